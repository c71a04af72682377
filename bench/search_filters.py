"""Filtered search and facets at 100k: ``GET /v1/search`` with attribute filters and
``GET /v1/facets`` against plain search, end to end.

    python bench/search_filters.py [--quick] [--points N] [--rebuild]

The collection is ``store_1m``'s layout (clustered 512-d image and caption vectors, 256-d
look vectors, jieba keywords) with stored attributes drawn with a catalog's skew
(:data:`common.ATTRIBUTE_MIX`: 30% black, 45% men's, ...) and the payload indexes
``tuwen ingest`` makes, built once under the bench cache and reused. ``bench/serve.py``
serves it; one client sends, in turn, each kind of request below with its own distinct text
(so no kind gains from the query-vector cache of another):

- ``plain``: ``GET /v1/search?q=…&k=10``;
- ``two_filters``: the same with ``color=黑色&gender=男士`` (13.5% of the catalog pass);
- ``two_filters_rare``: ``color=绿色&gender=儿童`` (0.16% pass: Qdrant switches from the
  filtered HNSW walk to the payload index);
- ``facets``: ``GET /v1/facets?field=color`` over the whole catalog;
- ``facets_filtered``: ``field=color&gender=男士``;
- ``facets_q``: ``field=color&q=…``: the 50 best products for the text, then their counts.

The figure is each kind's p50 and its ratio to plain search's; the goal: each within 1.5×.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

#: kind → (path, fixed parameters, whether the request carries a text)
KINDS: dict[str, tuple[str, dict, bool]] = {
    "plain": ("/v1/search", {"k": 10}, True),
    "two_filters": ("/v1/search", {"k": 10, "color": "黑色", "gender": "男士"}, True),
    "two_filters_rare": ("/v1/search", {"k": 10, "color": "绿色", "gender": "儿童"}, True),
    "facets": ("/v1/facets", {"field": "color"}, False),
    "facets_filtered": ("/v1/facets", {"field": "color", "gender": "男士"}, False),
    "facets_q": ("/v1/facets", {"field": "color"}, True),
}
GOAL = 1.5


def build(n: int, rebuild: bool) -> tuple[Path, dict]:
    """The cached collection with attributes, and how long its build took."""
    import hashlib
    import shutil

    import store_1m

    from ingest.models.fingerprint import fingerprint_of
    from ingest.store import EdgeStore

    fp = fingerprint_of(common.ensure_clip())
    where = hashlib.sha256(fp.model.encode()).hexdigest()[:8]
    data_dir = common.CACHE / f"filters-v1-{n}-{fp.revision}-{where}"
    done = data_dir / "complete.json"
    if done.exists() and not rebuild:
        return data_dir, {**json.loads(done.read_text()), "cached": True}
    shutil.rmtree(data_dir, ignore_errors=True)
    common.log(f"building a {n}-point collection with attributes in {data_dir}")
    t0 = time.perf_counter()
    with EdgeStore(data_dir) as store:
        store.ensure(fp)
        store.ensure_indexes()  # the payload indexes `tuwen ingest` makes
        for chunk in store_1m.clustered_points(n, fp.dim):
            store.upsert(chunk)
        t1 = time.perf_counter()
        common.log(f"upserted in {t1 - t0:.0f}s; building the HNSW index")
        store.optimize()
    info = {"upsert_s": t1 - t0, "index_s": time.perf_counter() - t1}
    done.write_text(json.dumps(info))
    return data_dir, {**info, "cached": False}


def selectivity(data_dir: Path) -> dict[str, float]:
    """Share of the catalog passing each filtered kind's filter (facet counts, in-process)."""
    from ingest.store import EdgeStore

    with EdgeStore(data_dir) as store:
        n = store.count()
        out = {}
        for kind, (_, params, _) in KINDS.items():
            if "gender" in params:
                colour = {"color": [params["color"]]} if "color" in params else None
                out[kind] = dict(store.facets("gender", colour)).get(params["gender"], 0) / n
    return out


def measure(url: str, texts: list[str], rounds: int) -> dict[str, list[float]]:
    """Latencies per kind, the kinds sent in turn, each request with a text of its own."""
    import httpx

    lat: dict[str, list[float]] = {k: [] for k in KINDS}
    with httpx.Client(base_url=url, timeout=60) as http:
        for i in range(rounds):
            for j, (kind, (path, fixed, with_text)) in enumerate(KINDS.items()):
                params = dict(fixed)
                if with_text:
                    params["q"] = texts[(i * len(KINDS) + j) % len(texts)]
                t0 = time.perf_counter()
                r = http.get(path, params=params)
                dt = time.perf_counter() - t0
                if r.status_code != 200:
                    raise RuntimeError(f"{kind}: HTTP {r.status_code}: {r.text[:200]}")
                body = r.json()
                if not (body.get("results") or body.get("counts")):
                    raise RuntimeError(f"{kind}: empty answer {body}")
                lat[kind].append(dt)
    return lat


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (same collection)")
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--rebuild", action="store_true", help="build the collection again")
    common.threads_arg(ap)
    args = ap.parse_args(argv)
    common.apply_threads(args.threads)
    common.require_data()
    where = common.machine()
    data_dir, built = build(args.points, args.rebuild)
    share = selectivity(data_dir)
    rounds = 40 if args.quick else 150
    texts = common.queries(len(KINDS) * (rounds + 10), seed=23)
    with common.Server(data_dir, timeout=600) as url:
        measure(url, texts[::-1], 10)  # warm: model, caches, page cache
        lat = measure(url, texts, rounds)
    p50 = {k: common.percentile(v, 50) * 1000 for k, v in lat.items()}
    p99 = {k: common.percentile(v, 99) * 1000 for k, v in lat.items()}
    ratio = {k: p50[k] / p50["plain"] for k in KINDS if k != "plain"}
    common.log(f"p50 {p50}; p99 {p99}; ratio {ratio}")
    build_note = (
        f"cached from an earlier run (upsert {built['upsert_s']:.0f} s, HNSW "
        f"{built['index_s']:.0f} s)"
        if built["cached"]
        else f"built in this run: upsert {built['upsert_s']:.0f} s, HNSW {built['index_s']:.0f} s"
    )
    return common.emit(
        f"filtered search and facets at {args.points // 1000}k",
        {f"{k}_p50_ms": v for k, v in p50.items()},
        "ms",
        goal=f"GET /v1/search with two filters and GET /v1/facets p50 ≤ {GOAL}× plain search",
        met=all(r <= GOAL for r in ratio.values()),
        baseline={"plain_p50_ms": p50["plain"]},
        ratio=ratio,
        conditions=(
            f"{'QUICK ' if args.quick else ''}{args.points} synthetic points with stored "
            f"attributes (color, gender, category, usage, brand; keyword payload indexes), "
            f"Qdrant Edge, HNSW built; {build_note}. bench/serve.py (uvicorn, random "
            f"Chinese-CLIP ViT-B/16), one client, {rounds} rounds of the {len(KINDS)} kinds in "
            f"turn, each request a distinct text: "
            + "; ".join(
                f"{k} {KINDS[k][0]} {json.dumps(KINDS[k][1], ensure_ascii=False)}"
                + (" + q" if KINDS[k][2] else "")
                + (f" ({share[k]:.2%} pass)" if k in share else "")
                + f": p50 {p50[k]:.1f} / p99 {p99[k]:.1f} ms"
                for k in KINDS
            )
            + f". {where}"
        ),
    )


if __name__ == "__main__":
    main()
