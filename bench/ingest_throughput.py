"""Ingest throughput: ``tuwen ingest`` on real photos vs the model-only bound, same run.

    python bench/ingest_throughput.py [--quick] [--photos 2000]

Three measurements, all with the random-weight Chinese-CLIP ViT-B/16 of the real shape:

1. ``tuwen ingest`` (a subprocess, as a user runs it) on ``--photos`` real catalog photos and
   their captions into a fresh embedded store: its own report time (planning, model load,
   decode in worker processes, image + caption embedding, upserts) → images/s.
2. The model-only bound: the same model, dtype and batch size (32) on pre-decoded uint8 arrays
   of a subset of the same photos, image tower plus the captions of each batch (the model
   work ingest must do) — timed before and after (1) and averaged, to cancel drift.
3. A plain fp32 loop on a subset: for each photo, decode, embed it alone, embed its caption.
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

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


def run_cli_ingest(images: Path, captions: Path) -> dict:
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
        out = subprocess.run(cmd, cwd=common.REPO, capture_output=True, text=True)
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
    import numpy as np

    t0 = time.perf_counter()
    for i in range(0, len(arrays), BATCH):
        encoder.encode_pixels(np.stack(arrays[i : i + BATCH]))
        texts = [c for c in captions[i : i + BATCH] if c]
        encoder.encode_texts(texts)
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


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="96 photos instead of 2000")
    ap.add_argument("--photos", type=int, help="photos to ingest (default 2000, quick 96)")
    common.threads_arg(ap)
    args = ap.parse_args(argv)
    common.apply_threads(args.threads)
    common.require_data()
    common.ensure_clip()
    where = common.machine()
    n = args.photos or (96 if args.quick else 2000)
    n_bound = min(n, 64 if args.quick else 128)
    n_plain = min(n, 16 if args.quick else 48)
    images, captions_csv, items = photo_set(n)

    from ingest.images import decode_for_model
    from ingest.models.clip import ClipEncoder

    # As ingest loads it: auto dtype, image tower in int8 (TUWEN_IMAGE_INT8, TUWEN_INT8_RUNTIME);
    # an ONNX export lands in the default cache, where the ingest below finds it.
    with common.Timer() as load:
        enc = ClipEncoder.from_pretrained(common.CLIP_DIR, int8=("vision",))
    rt = enc.runtime
    dtype = f"image tower {rt['vision']}, text tower {rt['text']} (load {load.s:.1f} s)"
    sub = items[:n_bound]
    arrays = [decode_for_model(str(p), enc.preprocess, 10**9) for p, _ in sub]
    caps = [c for _, c in sub]
    enc.encode_pixels(arrays[0][None])  # warm-up
    enc.encode_texts(["预热"])
    half = n_bound // 2
    common.log(f"bound before ({half} photos)")
    pre = model_bound(enc, arrays[:half], caps[:half])
    common.log(f"tuwen ingest of {n} photos")
    ing = run_cli_ingest(images, captions_csv)
    common.log(f"ingest: {ing}")
    post = model_bound(enc, arrays[half:], caps[half:])
    bound = (pre + post) / 2
    common.log(f"bound {pre:.2f} / {post:.2f} images/s")
    del enc
    plain = plain_fp32_loop(items[:n_plain])
    common.log(f"plain fp32 loop {plain:.2f} images/s")
    captioned = sum(1 for _, c in items if c)
    vs_bound, vs_plain = ing["rate"] / bound, ing["rate"] / plain
    return common.emit(
        "ingest throughput",
        ing["rate"],
        "images/s",
        goal="≥ 0.90 of the model-only bound; ≥ 2.5× a plain fp32 decode-then-embed loop",
        met=vs_bound >= 0.9 and vs_plain >= 2.5,
        baseline={"model_bound": bound, "plain_fp32_loop": plain},
        ratio={"vs_bound": vs_bound, "vs_plain_fp32": vs_plain},
        conditions=(
            f"{'QUICK ' if args.quick else ''}`tuwen ingest` of {n} real catalog photos "
            f"({captioned} captioned) into a fresh Qdrant Edge store, random Chinese-CLIP "
            f"ViT-B/16 {dtype}, batch {BATCH}, default decode workers: {ing['embedded']} "
            f"embedded in {ing['seconds']:.1f} s by its own report (incl. model load; process "
            f"wall {ing['wall_s']:.1f} s). Bound: same model/dtype/batch on {n_bound} pre-decoded "
            f"photos + their captions, {pre:.2f} before / {post:.2f} after the ingest. Plain "
            f"loop: fp32, one photo at a time (decode, embed, embed caption), {n_plain} photos. "
            f"{where}"
        ),
    )


if __name__ == "__main__":
    main()
