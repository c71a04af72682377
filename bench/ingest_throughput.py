"""Ingest throughput: ``tuwen ingest`` on real photos vs the model-only bound and the int8
ceiling, same run.

    python bench/ingest_throughput.py [--quick] [--photos 1000] [--runtime onnx ...]

All with the random-weight Chinese-CLIP ViT-B/16 of the real shape. For each int8 runtime of
the image tower (``onnx``: ONNX Runtime dynamic int8; ``openvino``: OpenVINO static int8,
calibrated on 300 of the same photos, when the ``openvino`` extra is installed):

1. ``tuwen ingest`` (a subprocess, as a user runs it, ``TUWEN_INT8_RUNTIME`` set) on
   ``--photos`` real catalog photos and their captions into a fresh embedded store: its own
   report time (planning, model load, decode in worker processes, image + caption embedding,
   upserts) → images/s.
2. The model-only bound: the same model, dtype and batch size (32) on pre-decoded uint8 arrays
   of a subset of the same photos, image tower plus the captions of each batch (the model
   work ingest must do) — timed before and after (1) and averaged, to cancel drift. The image
   tower alone is timed the same way.
3. The int8 ceiling (:mod:`int8_ceiling`): the tower's largest matmul (MLP fc1 at batch 32)
   timed in the runtime's int8 (fastest of 15 calls, before and after (1)), its rate divided
   by the tower's int8 operations per photo.

Then a plain fp32 loop on a subset: for each photo, decode, embed it alone, embed its caption.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import int8_ceiling  # noqa: E402

BATCH = 32


def photo_set(n: int) -> tuple[Path, Path, list[tuple[Path, str | None]]]:
    """The first ``n`` catalog photos (by name) copied into a cache folder, with a caption CSV
    for those of them that have one."""
    with common.CAPTIONS.open(encoding="utf-8-sig", newline="") as fh:
        caps = {r[0]: r[1] for r in list(csv.reader(fh))[1:] if len(r) >= 2}
    files = sorted(p.name for p in common.IMAGES.iterdir() if p.suffix.lower() == ".jpg")
    if len(files) < n:
        raise SystemExit(f"only {len(files)} photos in {common.IMAGES}, asked for {n}")
    files = files[:n]
    root = common.CACHE / f"ingest-{n}"
    images, csv_path = root / "images", root / "captions.csv"
    if not (root / "complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        images.mkdir(parents=True)
        for f in files:
            shutil.copyfile(common.IMAGES / f, images / f)
        with csv_path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["image", "text"])
            w.writerows((f, caps[f]) for f in files if f in caps)
        (root / "complete").write_text("ok\n")
    return images, csv_path, [(images / f, caps.get(f)) for f in files]


def run_cli_ingest(images: Path, captions: Path, runtime: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="tuwen-ingest-") as tmp:
        cmd = [
            common.PYTHON,
            "-m",
            "service.cli",
            "ingest",
            str(images),
            "--captions",
            str(captions),
            "--data-dir",
            tmp,
            "--clip-model",
            str(common.CLIP_DIR),
            "--batch-size",
            str(BATCH),
            "-q",
        ]
        t0 = time.perf_counter()
        env = {**os.environ, "TUWEN_INT8_RUNTIME": runtime}
        out = subprocess.run(cmd, cwd=common.REPO, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
    if out.returncode not in (0, 3):
        sys.stderr.write(out.stderr[-3000:])
        raise SystemExit(f"tuwen ingest failed ({out.returncode})")
    m = re.search(r"embedded (\d+) images in ([\d.]+)s", out.stdout)
    if not m:
        raise SystemExit(f"cannot read the ingest summary: {out.stdout!r}")
    n, secs = int(m.group(1)), float(m.group(2))
    return {"embedded": n, "seconds": secs, "rate": n / secs, "wall_s": wall}


def model_bound(encoder, arrays, captions: list[str | None]) -> float:
    """images/s of the model work alone: image tower + captions, batches of 32."""
    t0 = time.perf_counter()
    for i in range(0, len(arrays), BATCH):
        encoder.encode_pixels(np.stack(arrays[i : i + BATCH]))
        texts = [c for c in captions[i : i + BATCH] if c]
        encoder.encode_texts(texts)
    return len(arrays) / (time.perf_counter() - t0)


def tower_rate(encoder, arrays) -> float:
    """images/s of the image tower alone, batches of 32."""
    t0 = time.perf_counter()
    for i in range(0, len(arrays), BATCH):
        encoder.encode_pixels(np.stack(arrays[i : i + BATCH]))
    return len(arrays) / (time.perf_counter() - t0)


def plain_fp32_loop(items: list[tuple[Path, str | None]]) -> float:
    """images/s of the naive loop: fp32 model, per photo decode → embed → embed caption."""
    from ingest.images import load_image
    from ingest.models.clip import ClipEncoder

    enc = ClipEncoder.from_pretrained(common.CLIP_DIR, dtype="float32")
    enc.encode_images([load_image(items[0][0])])  # warm-up
    t0 = time.perf_counter()
    for path, caption in items:
        enc.encode_images([load_image(path)])
        if caption:
            enc.encode_texts([caption])
    return len(items) / (time.perf_counter() - t0)


def measure(runtime: str, items, images: Path, captions_csv: Path, n_bound: int, shape) -> dict:
    """Load, ceiling, bound before, ingest, bound after, for one int8 runtime of the image tower."""
    import torch

    from ingest.images import decode_for_model
    from ingest.models.clip import ClipEncoder

    # As ingest loads it: auto dtype, image tower in int8 in this runtime, calibrated (once per
    # model, then cached where the ingest below finds it) on the catalog's photos.
    with common.Timer() as load:
        enc = ClipEncoder.from_pretrained(
            common.CLIP_DIR,
            int8=("vision",),
            int8_runtime=runtime,
            calibration=[p for p, _ in items],
        )
    rt = enc.runtime
    sub = items[:n_bound]
    arrays = [decode_for_model(str(p), enc.preprocess, 10**9) for p, _ in sub]
    caps = [c for _, c in sub]
    enc.encode_pixels(np.stack(arrays[:BATCH]))  # warm-up (and the batch shape)
    enc.encode_texts(["预热"])
    threads = torch.get_num_threads()
    ceil = int8_ceiling.ceiling(runtime, shape, BATCH, threads)
    common.log(f"{runtime}: {rt}, load {load.s:.1f} s, ceiling {ceil}")
    half = n_bound // 2
    tower = [tower_rate(enc, arrays[:half])]
    pre = model_bound(enc, arrays[:half], caps[:half])
    common.log(f"{runtime}: tuwen ingest of {len(items)} photos")
    ing = run_cli_ingest(images, captions_csv, runtime)
    common.log(f"{runtime}: ingest {ing}")
    post = model_bound(enc, arrays[half:], caps[half:])
    tower.append(tower_rate(enc, arrays[half:]))
    again = int8_ceiling.ceiling(runtime, shape, BATCH, threads)  # the faster of the two
    ceil = max(ceil, again, key=lambda c: c["gops"])
    common.log(f"{runtime}: bound {pre:.2f} / {post:.2f}, tower {tower} images/s")
    return {
        "runtime": rt,
        "load_s": load.s,
        "ingest": ing,
        "bound": (pre + post) / 2,
        "bound_pre_post": (pre, post),
        "tower": sum(tower) / 2,
        "ceiling": ceil,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="96 photos instead of 1000")
    ap.add_argument(
        "--photos",
        type=int,
        help="photos to ingest per runtime (default 1000, so two runtimes fit in 10 minutes; quick 96)",
    )
    ap.add_argument(
        "--runtime",
        action="append",
        choices=("onnx", "openvino"),
        help="int8 runtimes of the image tower (default: onnx, and openvino when installed)",
    )
    common.threads_arg(ap)
    args = ap.parse_args(argv)
    common.apply_threads(args.threads)
    common.require_data()
    common.ensure_clip()
    where = common.machine()
    n = args.photos or (96 if args.quick else 1000)
    n_bound = min(n, 64 if args.quick else 128)
    n_plain = min(n, 16 if args.quick else 48)
    images, captions_csv, items = photo_set(n)

    from transformers import AutoConfig

    from ingest.models import openvino_int8

    runtimes = args.runtime or ["onnx"] + (["openvino"] if openvino_int8.available() else [])
    config = AutoConfig.from_pretrained(common.CLIP_DIR)
    shape = int8_ceiling.tower_shape(config.vision_config, config.projection_dim)
    gop = int8_ceiling.ops_per_photo(shape) / 1e9
    runs = {rt: measure(rt, items, images, captions_csv, n_bound, shape) for rt in runtimes}
    plain = plain_fp32_loop(items[:n_plain])
    common.log(f"plain fp32 loop {plain:.2f} images/s")
    captioned = sum(1 for _, c in items if c)
    best = max(runs, key=lambda rt: runs[rt]["ingest"]["rate"])
    top = max(r["ceiling"]["images_per_s"] for r in runs.values())
    r = runs[best]
    rate = r["ingest"]["rate"]
    vs_ceiling = rate / r["ceiling"]["images_per_s"]
    vs_bound, vs_plain = rate / r["bound"], rate / plain
    baseline = {"plain_fp32_loop": plain}
    ratio = {"vs_ceiling": vs_ceiling, "vs_bound": vs_bound, "vs_plain_fp32": vs_plain}
    for rt, x in runs.items():
        c = x["ceiling"]["images_per_s"]
        baseline |= {
            f"{rt}_ingest": x["ingest"]["rate"],
            f"{rt}_tower": x["tower"],
            f"{rt}_bound": x["bound"],
            f"{rt}_ceiling": c,
            f"{rt}_fc1_gops": x["ceiling"]["gops"],
        }
        ratio |= {
            f"{rt}_ingest_vs_ceiling": x["ingest"]["rate"] / c,
            f"{rt}_tower_vs_ceiling": x["tower"] / c,
            f"{rt}_ingest_vs_best_ceiling": x["ingest"]["rate"] / top,
            f"{rt}_tower_vs_best_ceiling": x["tower"] / top,
        }
    detail = "; ".join(
        f"{rt}: image tower {x['runtime']['vision']}, text tower {x['runtime']['text']} (load "
        f"{x['load_s']:.1f} s), {x['ingest']['embedded']} embedded in "
        f"{x['ingest']['seconds']:.1f} s by its own report (process wall "
        f"{x['ingest']['wall_s']:.1f} s), bound {x['bound_pre_post'][0]:.2f} before / "
        f"{x['bound_pre_post'][1]:.2f} after, tower alone {x['tower']:.2f} images/s, fc1 "
        f"[{shape['tokens'] * BATCH}x{shape['hidden']}]x[{shape['hidden']}x"
        f"{shape['intermediate']}] int8 {x['ceiling']['gops']:.0f} G op/s"
        for rt, x in runs.items()
    )
    return common.emit(
        "ingest throughput",
        rate,
        "images/s",
        goal="≥ 0.8 of the int8 ceiling (the runtime's int8 fc1 rate / int8 ops per photo); "
        "≥ 0.90 of the model-only bound; ≥ 2.5× a plain fp32 decode-then-embed loop",
        met=vs_ceiling >= 0.8 and vs_bound >= 0.9 and vs_plain >= 2.5,
        baseline=baseline,
        ratio=ratio,
        conditions=(
            f"{'QUICK ' if args.quick else ''}`tuwen ingest` of {n} real catalog photos "
            f"({captioned} captioned) into a fresh Qdrant Edge store, random Chinese-CLIP "
            f"ViT-B/16 ({gop:.1f} G int8 op per photo in its matmuls), batch {BATCH}, default "
            f"decode workers; value = the fastest runtime, {best}. {detail}. Bound: same "
            f"model/dtype/batch on {n_bound} pre-decoded photos + their captions; ceilings "
            f"cover the image tower only (captions run in the float text tower). Plain loop: "
            f"fp32, one photo at a time (decode, embed, embed caption), {n_plain} photos. "
            f"{where}"
        ),
    )


if __name__ == "__main__":
    main()
