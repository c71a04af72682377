"""Store at 1M: a quantized collection of a million products on one machine.

    python bench/store_1m.py [--quick] [--points N] [--quantization int8|none]
        [--on-disk none|vectors|all] [--rebuild]

Points are synthetic with the real layout (512-d image and caption vectors, a 256-d look
vector, jieba keyword vectors of generated captions, the real payload), for the random CLIP's
fingerprint so the HTTP service can serve them. The image and caption vectors are clustered
(a product type's photos lie near each other, as CLIP embeddings do; uniform random 512-d
vectors have no near neighbours, and any HNSW index finds only a third of their exact top 10),
the recall queries drawn the same way. The collection is built once
under the bench cache (upsert, then the HNSW build, each timed and recorded beside it) and
reused by later runs, like ``store_100k``'s. A cached collection gets what an ingest run gives an older one (``ensure_indexes``). Each run
then measures, in fresh processes, with the search settings of the environment
(``TUWEN_QUANTIZATION_OVERSAMPLING``, ``TUWEN_HNSW_EF``):

- reopen: open + count with the store's page cache dropped first (``posix_fadvise``, as after
  a boot), then again with the cache as that open left it (as a restart);
- store-only hybrid query latency (image + caption + keyword legs fused, k=10), p50 / p99;
- recall@10 of the collection's search (HNSW, int8 scores rescored with the originals)
  against exact search (full scan of the original vectors) on the image vector;
- RSS after those searches, anonymous and file-backed apart (the exact scans of the recall
  truth read every original vector: the RSS after them is reported on its own);
- ``GET /v1/search`` end to end through ``tuwen serve`` (one client, distinct texts), p50,
  and the service's RSS.

``--points 100000`` with ``--quantization int8`` and ``none`` gives the 100k comparison.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

PROBE = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[2])
def mem():
    keys = ("VmRSS", "RssAnon", "RssFile")
    kb = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(keys)}
    return {k: kb[k] / 1048576 for k in keys}
def drop_cache(root):
    for d, _, files in os.walk(root):
        for f in files:
            fd = os.open(os.path.join(d, f), os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
from ingest.settings import Settings
from ingest.store import CAPTION, IMAGE, KEYWORDS, CollectionConfig, EdgeStore, Leg, Search
import numpy as np
from ingest.keywords import sparse_vector
config = CollectionConfig.from_settings(Settings())
before = mem()["VmRSS"]
opens = {}
for state in ("cold", "warm"):  # warm: as a restart leaves the page cache, cold: as a boot
    if state == "cold":
        drop_cache(sys.argv[1])
    t0, c0 = time.perf_counter(), os.times()
    store = EdgeStore(sys.argv[1], config=config)
    n = store.count()
    c1 = os.times()
    opens[state] = time.perf_counter() - t0
    opens[state + "_cpu"] = c1.user + c1.system - c0.user - c0.system
    if state == "cold":
        store.close()
queries = int(sys.argv[3])
rng = np.random.default_rng(7)
words = ["男士", "女士", "黑色", "白色", "红色", "休闲", "运动", "衬衫", "连衣裙", "鞋", "外套", "夏季"]
lat = []
for i in range(queries):
    v = rng.standard_normal(512).astype(np.float32); v /= np.linalg.norm(v)
    text = " ".join(rng.choice(words, 3, replace=False))
    legs = (Leg(v, IMAGE, 50), Leg(v, CAPTION, 50), Leg(sparse_vector(text), KEYWORDS, 50))
    t = time.perf_counter()
    store.search(Search(legs, limit=10))
    lat.append(time.perf_counter() - t)
near = np.random.default_rng(5)
centres = near.standard_normal((max(1, n // int(sys.argv[5])), 512), dtype=np.float32)
centres /= np.linalg.norm(centres, axis=1, keepdims=True)
recall_q = []
for i in range(int(sys.argv[4])):
    v = centres[rng.integers(len(centres))] + rng.standard_normal(512).astype(np.float32) * float(sys.argv[6])
    recall_q.append(v / np.linalg.norm(v))
found = []
for v in recall_q:  # the collection's search: HNSW, int8 scores rescored with the originals
    found.append({h.id for h in store.search(Search((Leg(v, IMAGE, 10),), limit=10))})
served = mem()  # what searching keeps resident; the exact scans below read every original
qe = store._qe
exact = qe.SearchParams(exact=True, quantization=qe.QuantizationSearchParams(ignore=True))
recall = []
for v, ids in zip(recall_q, found):
    truth = store.shard.query(qe.QueryRequest(
        limit=10, query=qe.Query.Nearest(v.tolist(), using=IMAGE), params=exact))
    recall.append(len({str(p.id) for p in truth} & ids) / 10)
scanned = mem()
cfg = store.config
store.close()
lat.sort()
print(json.dumps({"open_s": opens["cold"], "open_warm_s": opens["warm"], "count": n,
                  "open_cpu_s": opens["cold_cpu"], "open_warm_cpu_s": opens["warm_cpu"],
                  "p50_ms": lat[len(lat) // 2] * 1000,
                  "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
                  "recall": sum(recall) / len(recall), "rss_gib": served["VmRSS"],
                  "anon_gib": served["RssAnon"], "file_gib": served["RssFile"],
                  "store_rss_gib": served["VmRSS"] - before,
                  "scanned_rss_gib": scanned["VmRSS"], "scanned_file_gib": scanned["RssFile"],
                  "config": [cfg.quantization, cfg.on_disk],
                  "search": [cfg.oversampling, cfg.hnsw_ef]}))
"""


CLUSTER = 100  # points per cluster on average
SPREAD = 0.06  # per-component noise around a cluster centre: cosine to it about 0.6


def clustered(rng, centres, n: int):
    """``n`` unit vectors, each near a random one of ``centres``."""
    import numpy as np

    v = centres[rng.integers(len(centres), size=n)]
    v = v + rng.standard_normal(v.shape, dtype=np.float32) * SPREAD
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def clustered_points(n: int, dim: int):
    """:func:`common.synthetic_points` with clustered image and caption vectors."""
    import dataclasses

    import numpy as np

    rng = np.random.default_rng(5)
    centres = common.random_unit(rng, max(1, n // CLUSTER), dim)
    for chunk in common.synthetic_points(n, dim, chunk=1000):
        img, cap = clustered(rng, centres, len(chunk)), clustered(rng, centres, len(chunk))
        yield [
            dataclasses.replace(p, image=img[i], caption_vector=cap[i]) for i, p in enumerate(chunk)
        ]


def anon_gib(pid: int) -> float:
    """Anonymous resident memory of a process (heap, not mapped files), GiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return (
        next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("RssAnon:")) / 2**20
    )


def build(n: int, quantization: str, on_disk: str, rebuild: bool) -> tuple[Path, dict]:
    """The cached collection and how long it took to build (upsert, index)."""
    import hashlib
    import shutil

    from ingest.models.fingerprint import fingerprint_of
    from ingest.store import CollectionConfig, EdgeStore

    fp = fingerprint_of(common.ensure_clip())
    where = hashlib.sha256(fp.model.encode()).hexdigest()[:8]
    data_dir = common.CACHE / f"store1m-v3-{n}-{quantization}-{on_disk}-{fp.revision}-{where}"
    done = data_dir / "complete.json"
    if done.exists() and not rebuild:
        t0 = time.perf_counter()
        with EdgeStore(data_dir) as store:  # what an ingest run does to an older collection
            made = store.ensure_indexes()
        if made:
            common.log(f"payload indexes made again: {made} ({time.perf_counter() - t0:.0f} s)")
        return data_dir, {**json.loads(done.read_text()), "cached": True}
    shutil.rmtree(data_dir, ignore_errors=True)
    common.log(f"building a {n}-point {quantization}/{on_disk} collection in {data_dir}")
    config = CollectionConfig(quantization=quantization, on_disk=on_disk)
    gen_s = upsert_s = 0.0
    written = 0
    with EdgeStore(data_dir, config=config) as store:
        store.ensure(fp)
        store.ensure_indexes()  # the payload indexes `tuwen ingest` makes
        chunks = clustered_points(n, fp.dim)
        while True:
            t0 = time.perf_counter()
            chunk = next(chunks, None)
            t1 = time.perf_counter()
            gen_s += t1 - t0
            if chunk is None:
                break
            store.upsert(chunk)
            upsert_s += time.perf_counter() - t1
            written += len(chunk)
            if written % 100_000 == 0:
                common.log(f"  {written} points, upsert {upsert_s:.0f}s, generate {gen_s:.0f}s")
        common.log(f"upserted in {upsert_s:.1f}s; building the HNSW index")
        t2 = time.perf_counter()
        store.optimize()
        index_s = time.perf_counter() - t2
        t3 = time.perf_counter()
    close_s = time.perf_counter() - t3  # the flush and close after the index build
    peak = common.rss_gib(peak=True)
    info = {
        "upsert_s": upsert_s,
        "index_s": index_s,
        "close_s": close_s,
        "generate_s": gen_s,
        "build_peak_rss_gib": peak,
    }
    done.write_text(json.dumps(info))
    common.log(f"built: {info}")
    return data_dir, {**info, "cached": False}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer queries, a shorter HTTP run")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--quantization", choices=["int8", "none"], default="int8")
    ap.add_argument("--on-disk", choices=["none", "vectors", "all"], default="vectors")
    ap.add_argument("--rebuild", action="store_true", help="build the collection again")
    ap.add_argument("--no-http", action="store_true", help="store figures only")
    common.threads_arg(ap)
    args = ap.parse_args(argv)
    common.apply_threads(args.threads)
    common.require_data()
    where = common.machine()
    n = args.points
    data_dir, built = build(n, args.quantization, args.on_disk, args.rebuild)
    queries, recall_q = (50, 100) if args.quick else (300, 200)
    out = subprocess.run(
        [common.PYTHON, "-c", PROBE, str(data_dir), str(common.REPO), str(queries), str(recall_q)]
        + [str(CLUSTER), str(SPREAD)],
        capture_output=True,
        text=True,
        check=True,
    )
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    common.log(f"probe: {probe}")
    if probe["count"] != n:
        raise SystemExit(f"reopened store has {probe['count']} points, expected {n}")
    e2e = None
    if not args.no_http:
        texts = common.queries(2000, seed=11)
        server = common.Server(data_dir, timeout=600)
        with server as url:
            common.search_clients(url, texts[::-1], 1, requests=20)  # warm
            e2e = common.search_clients(url, texts, 1, seconds=5 if args.quick else 20)
            e2e |= {"rss_gib": common.rss_gib(server.pid), "anon_gib": anon_gib(server.pid)}
        common.log(f"GET /v1/search: {e2e}")
    size = sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file()) / 2**30
    label = f"store at {n // 1000}k" if n < 1_000_000 else f"store at {n / 1e6:g}M"
    value = {
        "reopen_s": probe["open_s"],
        "reopen_warm_s": probe["open_warm_s"],
        "store_p50_ms": probe["p50_ms"],
        "store_p99_ms": probe["p99_ms"],
        "recall_at_10": probe["recall"],
        "rss_gib": probe["rss_gib"],
        "rss_anon_gib": probe["anon_gib"],
    }
    if e2e:
        value |= {"search_p50_ms": e2e["p50_ms"], "search_p99_ms": e2e["p99_ms"]}
    met = (
        probe["rss_gib"] <= 3
        and probe["recall"] >= 0.95
        and probe["open_s"] <= 5
        and (e2e is None or e2e["p50_ms"] <= 30)
    )
    build_note = (
        f"collection cached from an earlier run (its build: upsert {built['upsert_s']:.0f} s, "
        f"HNSW {built['index_s']:.0f} s)"
        if built["cached"]
        else f"built in this run: upsert {built['upsert_s']:.0f} s, HNSW {built['index_s']:.0f} s "
        f"(generating the points {built['generate_s']:.0f} s not counted), peak RSS "
        f"{built['build_peak_rss_gib']:.2f} GiB"
    )
    return common.emit(
        f"{label} ({args.quantization}, on disk: {args.on_disk})",
        value,
        "s, s, ms, ms, -, GiB, GiB" + (", ms, ms" if e2e else ""),
        goal="RSS ≤ 3 GiB, GET /v1/search p50 ≤ 30 ms, recall@10 ≥ 0.95, reopen ≤ 5 s",
        met=met,
        conditions=(
            f"{'QUICK ' if args.quick else ''}{n} synthetic points (2 dense 512-d + 1 dense "
            f"256-d cosine, sparse IDF keywords, payload), Qdrant Edge, collection config "
            f"{probe['config']}, searched with oversampling {probe['search'][0]:g}, hnsw_ef "
            f"{probe['search'][1]}; {size:.2f} GiB on disk; {build_note}. Fresh process, the "
            f"store's page cache dropped (posix_fadvise): open+count {probe['open_s']:.2f} s "
            f"(CPU {probe['open_cpu_s']:.2f} s); closed and opened again, the cache as the first "
            f"open left it: {probe['open_warm_s']:.2f} s (CPU {probe['open_warm_cpu_s']:.2f} s); "
            f"{queries} hybrid queries (3 legs, RRF, k=10) p50 {probe['p50_ms']:.1f} / p99 "
            f"{probe['p99_ms']:.1f} ms; recall@10 vs exact full scan over {recall_q} "
            f"image-vector queries {probe['recall']:.3f}; RSS after searching "
            f"{probe['rss_gib']:.2f} GiB (anonymous {probe['anon_gib']:.2f}, file-backed "
            f"{probe['file_gib']:.2f}: mapped store files the kernel can drop; store "
            f"{probe['store_rss_gib']:.2f}), after the exact scans of the recall truth "
            f"{probe['scanned_rss_gib']:.2f} GiB (file-backed {probe['scanned_file_gib']:.2f}: the "
            f"original vectors read whole)"
            + (
                f"; GET /v1/search one client, distinct texts, {e2e['n']} requests: p50 "
                f"{e2e['p50_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms, service RSS "
                f"{e2e['rss_gib']:.2f} GiB (anonymous {e2e['anon_gib']:.2f}, CLIP included)"
                if e2e
                else ""
            )
            + f". {where}"
        ),
    )


if __name__ == "__main__":
    main()
