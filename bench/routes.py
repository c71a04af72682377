"""Routes: what each optimisation buys here, measured side by side in one process.

    python bench/routes.py [--quick] [--only NAME ...] [--compile]

One JSON line per route (``"figure": "route: ..."``, ``"met": null``: these are measurements
behind the goal figures, not goals). Routes:

- ``dtype``: bf16 vs fp32, image tower (batch 32, pre-decoded) and one text query.
- ``threads``: torch intra-op threads 1 vs all cores for one text query (and a batch of 16).
- ``batching``: one text encode call of 16 queries vs 16 calls of one — the most dynamic
  batching can buy on this CPU; and the batcher's cost for a lone caller.
- ``int8``: dynamic int8 quantisation of the text tower's linear layers: speed, and how close
  its query vectors and rankings stay to bf16 (against 5,000 bf16 caption vectors).
- ``onnx``: the int8 towers in ONNX Runtime (``TUWEN_INT8_RUNTIME=onnx``, the default) vs
  torch's dynamic int8 (``torch``): one text query, a batch of 16, the image tower on 32
  pre-decoded photos; vectors against float32's; the one-off export time.
- ``store``: hybrid query latency on a plain (unindexed) Qdrant Edge segment vs after
  ``optimize()`` builds HNSW, and what the build costs.
- ``compile`` (only with ``--compile``): ``torch.compile`` of the text tower vs eager.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

ROUTES = ("dtype", "threads", "batching", "int8", "onnx", "store", "compile")


def p50_ms(fn, texts, reps: int) -> float:
    lat = []
    for i in range(reps):
        t0 = time.perf_counter()
        fn(texts[i % len(texts)])
        lat.append(time.perf_counter() - t0)
    return common.percentile(lat, 50) * 1000


def rate(fn, n_items: int, reps: int = 1) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return n_items * reps / (time.perf_counter() - t0)


def route_dtype(q: bool, texts: list[str], where: str) -> dict:
    import numpy as np

    from ingest.models.clip import ClipEncoder

    px = np.random.default_rng(0).integers(0, 255, (32, 224, 224, 3), dtype=np.uint8)
    res = {}
    for dt in ("bfloat16", "float32"):
        enc = ClipEncoder.from_pretrained(common.CLIP_DIR, dtype=dt)
        enc.encode_pixels(px[:2])
        enc.encode_texts(texts[:2])
        res[dt] = {
            "img_per_s": rate(lambda enc=enc: enc.encode_pixels(px), 32, 1 if q else 2),
            "text_p50_ms": p50_ms(lambda t, enc=enc: enc.encode_texts([t]), texts, 20 if q else 60),
        }
        del enc
    b, f = res["bfloat16"], res["float32"]
    return common.emit(
        "route: bf16 vs fp32 (CLIP towers)",
        {"bf16_img_per_s": b["img_per_s"], "bf16_text_ms": b["text_p50_ms"]},
        "images/s, ms",
        goal="(route)",
        met=None,
        baseline={"fp32_img_per_s": f["img_per_s"], "fp32_text_ms": f["text_p50_ms"]},
        ratio={
            "image": b["img_per_s"] / f["img_per_s"],
            "text": f["text_p50_ms"] / b["text_p50_ms"],
        },
        conditions=(
            f"{'QUICK ' if q else ''}random Chinese-CLIP ViT-B/16, image tower on a batch of 32 "
            f"pre-decoded 224² arrays; text p50 of single product-title queries; ratio = bf16 "
            f"speed-up. {where}"
        ),
    )


def route_threads(q: bool, texts: list[str], where: str) -> dict:
    import torch

    from ingest.models.clip import ClipEncoder

    enc = ClipEncoder.from_pretrained(common.CLIP_DIR)
    all_threads = torch.get_num_threads()
    res = {}
    for n in sorted({1, all_threads}):
        torch.set_num_threads(n)
        enc.encode_texts(texts[:2])
        res[n] = {
            "p50": p50_ms(lambda t: enc.encode_texts([t]), texts, 30 if q else 100),
            "b16": rate(lambda: enc.encode_texts(texts[:16]), 16, 1 if q else 3),
        }
    torch.set_num_threads(all_threads)
    one, many = res[1], res[all_threads]
    return common.emit(
        "route: torch threads (text tower)",
        {f"{all_threads}t_p50_ms": many["p50"], f"{all_threads}t_b16_texts_per_s": many["b16"]},
        "ms, texts/s",
        goal="(route)",
        met=None,
        baseline={"1t_p50_ms": one["p50"], "1t_b16_texts_per_s": one["b16"]},
        ratio={"single": one["p50"] / many["p50"], "batch16": many["b16"] / one["b16"]},
        conditions=(
            f"{'QUICK ' if q else ''}{str(enc.dtype).replace('torch.', '')} text tower; single "
            f"query p50 and a batch of 16 with torch.set_num_threads(1) vs ({all_threads}); "
            f"ratio > 1 = more threads faster. {where}"
        ),
    )


def route_batching(q: bool, texts: list[str], where: str) -> dict:
    from ingest.models.clip import ClipEncoder
    from service.answering.batcher import TextBatcher

    enc = ClipEncoder.from_pretrained(common.CLIP_DIR)
    enc.encode_texts(texts[:16])
    reps = 1 if q else 3
    one_by_one = rate(lambda: [enc.encode_texts([t]) for t in texts[:16]], 16, reps)
    batched = rate(lambda: enc.encode_texts(texts[:16]), 16, reps)
    n = 20 if q else 80
    direct = p50_ms(lambda t: enc.encode_texts([t]), texts, n)
    with TextBatcher(enc.encode_texts, max_wait_ms=2.0) as b:
        via = p50_ms(lambda t: b.encode([t]), texts, n)
    with TextBatcher(enc.encode_texts, max_wait_ms=0.0) as b:
        via0 = p50_ms(lambda t: b.encode([t]), texts, n)
    return common.emit(
        "route: batching text encodes",
        {"batch16_texts_per_s": batched, "lone_via_batcher_ms": via},
        "texts/s, ms",
        goal="(route)",
        met=None,
        baseline={"one_by_one_texts_per_s": one_by_one, "lone_direct_ms": direct},
        ratio={"throughput": batched / one_by_one, "lone_overhead_ms": via - direct},
        conditions=(
            f"{'QUICK ' if q else ''}{str(enc.dtype).replace('torch.', '')} text tower, 16 "
            f"product titles in one encode_texts call vs 16 calls (the ceiling for what the "
            f"batcher buys under load on this CPU); a lone caller through TextBatcher "
            f"(max_wait 2 ms) vs direct; with max_wait 0: {via0:.1f} ms. {where}"
        ),
    )


def route_int8(q: bool, texts: list[str], where: str) -> dict:
    import numpy as np
    import torch

    from ingest.models.clip import ClipEncoder

    enc = ClipEncoder.from_pretrained(common.CLIP_DIR)
    captions = common.synthetic_captions(1000 if q else 5000, seed=7)
    cap_vecs = np.concatenate(
        [enc.encode_texts(captions[i : i + 64]) for i in range(0, len(captions), 64)]
    )
    qn = texts[: 20 if q else 100]
    ref = np.concatenate([enc.encode_texts([t]) for t in qn])
    bf16_ms = p50_ms(lambda t: enc.encode_texts([t]), qn, len(qn))

    text_model = copy.deepcopy(enc.model).float()
    text_model.text_model = torch.ao.quantization.quantize_dynamic(
        text_model.text_model, {torch.nn.Linear}, dtype=torch.qint8
    )
    text_model.text_projection = torch.ao.quantization.quantize_dynamic(
        torch.nn.Sequential(text_model.text_projection), {torch.nn.Linear}, dtype=torch.qint8
    )[0]
    q8 = ClipEncoder(
        text_model,
        enc.tokenizer,
        enc.preprocess,
        enc.fingerprint,
        dtype=torch.float32,
        max_text_length=enc.max_text_length,
    )
    q8.encode_texts(qn[:2])
    got = np.concatenate([q8.encode_texts([t]) for t in qn])
    int8_ms = p50_ms(lambda t: q8.encode_texts([t]), qn, len(qn))
    cos = (got * ref).sum(1)
    overlap = []
    for r, g in zip(ref, got, strict=True):
        a = set(np.argsort(-(cap_vecs @ r))[:10])
        b = set(np.argsort(-(cap_vecs @ g))[:10])
        overlap.append(len(a & b) / 10)
    return common.emit(
        "route: int8 text tower",
        {
            "int8_text_ms": int8_ms,
            "cosine_min": float(cos.min()),
            "top10_overlap": float(np.mean(overlap)),
        },
        "ms, cos, share",
        goal="(route)",
        met=None,
        baseline={"bf16_text_ms": bf16_ms},
        ratio=bf16_ms / int8_ms,
        conditions=(
            f"{'QUICK ' if q else ''}torch.ao dynamic int8 (qint8 Linear, fbgemm) text tower vs "
            f"bf16; {len(qn)} single queries; query vectors compared with bf16's (cosine min "
            f"{cos.min():.4f}, mean {cos.mean():.4f}) and top-10 among {len(captions)} bf16 "
            f"caption vectors. Random weights: the numbers bound numerical drift, not real "
            f"retrieval quality. {where}"
        ),
    )


def route_onnx(q: bool, texts: list[str], where: str) -> dict:
    import tempfile

    import numpy as np

    from ingest.models.clip import ClipEncoder

    px = np.random.default_rng(0).integers(0, 255, (32, 224, 224, 3), dtype=np.uint8)
    qn = texts[: 20 if q else 100]
    batch = texts[:16]
    ref = ClipEncoder.from_pretrained(common.CLIP_DIR, dtype="float32")
    ref_t = ref.encode_texts(qn)
    ref_i = ref.encode_pixels(px[:8])
    del ref
    res, cos = {}, {}
    with tempfile.TemporaryDirectory() as cache:
        for runtime in ("torch", "onnx"):
            with common.Timer() as load:
                enc = ClipEncoder.from_pretrained(
                    common.CLIP_DIR, int8=("text", "vision"), int8_runtime=runtime, cache_dir=cache
                )
            enc.encode_texts(batch)
            enc.encode_pixels(px[:2])
            res[runtime] = {
                "text_ms": p50_ms(lambda t, e=enc: e.encode_texts([t]), qn, len(qn)),
                "b16_texts_per_s": rate(lambda e=enc: e.encode_texts(batch), 16, 3 if q else 10),
                "img_per_s": rate(lambda e=enc: e.encode_pixels(px), 32, 1 if q else 2),
                "load_s": load.s,
            }
            cos[runtime] = (
                float((enc.encode_texts(qn) * ref_t).sum(1).min()),
                float((enc.encode_pixels(px[:8]) * ref_i).sum(1).min()),
            )
            del enc
    t, o = res["torch"], res["onnx"]
    return common.emit(
        "route: int8 in ONNX Runtime vs torch",
        {k: o[k] for k in ("text_ms", "b16_texts_per_s", "img_per_s")},
        "ms, texts/s, images/s",
        goal="(route)",
        met=None,
        baseline={k: t[k] for k in ("text_ms", "b16_texts_per_s", "img_per_s")},
        ratio={
            "text": t["text_ms"] / o["text_ms"],
            "batch16": o["b16_texts_per_s"] / t["b16_texts_per_s"],
            "image": o["img_per_s"] / t["img_per_s"],
        },
        conditions=(
            f"{'QUICK ' if q else ''}random Chinese-CLIP ViT-B/16, both towers int8: ONNX Runtime "
            f"(TorchScript export, quantize_dynamic QInt8 MatMuls) vs torch.ao dynamic int8 "
            f"(qint8 Linear, fbgemm); {len(qn)} single queries (p50), a batch of 16 queries, "
            f"the image tower on 32 pre-decoded 224² arrays. Cosine min against float32 (text, "
            f"image): onnx {cos['onnx'][0]:.4f}, {cos['onnx'][1]:.4f}; torch "
            f"{cos['torch'][0]:.4f}, {cos['torch'][1]:.4f}. Load with an empty cache: onnx "
            f"{o['load_s']:.1f} s (export + quantise, once per model), torch {t['load_s']:.1f} s. "
            f"{where}"
        ),
    )


def route_store(q: bool, texts: list[str], where: str) -> dict:
    import numpy as np

    from ingest.keywords import sparse_vector
    from ingest.models.fingerprint import Fingerprint
    from ingest.store import CAPTION, IMAGE, KEYWORDS, EdgeStore, Leg, Search

    n = 20_000 if q else 50_000
    data_dir = common.CACHE / f"route-store-{n}"
    shutil.rmtree(data_dir, ignore_errors=True)
    rng = np.random.default_rng(3)
    qv = common.random_unit(rng, 200, 512)
    searches = [
        Search(
            (Leg(qv[i], IMAGE, 50), Leg(qv[i], CAPTION, 50), Leg(sparse_vector(t), KEYWORDS, 50)),
            limit=10,
        )
        for i, t in enumerate(texts[:200])
    ]

    def lat(store) -> tuple[float, float]:
        xs = []
        for s in searches[: 60 if q else 200]:
            t0 = time.perf_counter()
            store.search(s)
            xs.append(time.perf_counter() - t0)
        return common.percentile(xs, 50) * 1000, common.percentile(xs, 99) * 1000

    with EdgeStore(data_dir) as store:
        store.ensure(Fingerprint("bench/random", "local-bench", 512))
        for chunk in common.synthetic_points(n, 512):
            store.upsert(chunk)
        plain = lat(store)
        with common.Timer() as build:
            store.shard.optimize()
        hnsw = lat(store)
    shutil.rmtree(data_dir, ignore_errors=True)
    return common.emit(
        "route: store index (plain vs HNSW)",
        {"hnsw_p50_ms": hnsw[0], "hnsw_p99_ms": hnsw[1], "build_s": build.s},
        "ms, ms, s",
        goal="(route)",
        met=None,
        baseline={"plain_p50_ms": plain[0], "plain_p99_ms": plain[1]},
        ratio=plain[0] / hnsw[0],
        conditions=(
            f"{'QUICK ' if q else ''}{n} synthetic points, hybrid query (image + caption dense "
            f"legs, keywords sparse leg, RRF, limit 10, prefetch 50) on the appendable plain "
            f"segment as upserted vs after shard.optimize() (HNSW, default m/ef); build_s = "
            f"the optimize() call. {where}"
        ),
    )


def route_compile(q: bool, texts: list[str], where: str) -> dict:
    import torch

    from ingest.models.clip import ClipEncoder

    enc = ClipEncoder.from_pretrained(common.CLIP_DIR)
    eager = p50_ms(lambda t: enc.encode_texts([t]), texts, 30)
    comp = copy.copy(enc)
    model = copy.copy(enc.model)
    model.get_text_features = torch.compile(enc.model.get_text_features, dynamic=True)
    comp.model = model
    with common.Timer() as c:
        comp.encode_texts(texts[:1])
        comp.encode_texts(texts[1:2])
    compiled = p50_ms(lambda t: comp.encode_texts([t]), texts, 30)
    return common.emit(
        "route: torch.compile text tower",
        {"compiled_ms": compiled, "compile_s": c.s},
        "ms, s",
        goal="(route)",
        met=None,
        baseline={"eager_ms": eager},
        ratio=eager / compiled,
        conditions=f"{str(enc.dtype).replace('torch.', '')}, inductor, dynamic=True. {where}",
    )


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", action="append", choices=ROUTES)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    common.threads_arg(ap)
    args = ap.parse_args(argv)
    common.apply_threads(args.threads)
    common.require_data()
    common.ensure_clip()
    where = common.machine()
    texts = common.queries(300)
    names = args.only or [r for r in ROUTES if r != "compile" or args.compile]
    out = []
    for name in names:
        common.log(f"route {name}")
        out.append(globals()[f"route_{name}"](args.quick, texts, where))
    return out


if __name__ == "__main__":
    main()
