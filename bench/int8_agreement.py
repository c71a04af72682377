"""How close the int8 image towers' vectors are to float's, on real catalog photos.

    python bench/int8_agreement.py [--clip-model DIR] [--photos 256] [--cache-dir DIR]
    python bench/int8_agreement.py --clip-model TRAINED_DIR --retrieval

The image tower of one model runs in float32, in ONNX Runtime dynamic int8 and in OpenVINO
static int8 (calibrated on 300 photos spread over the whole catalog, as ``tuwen ingest`` does);
``--photos`` photos spread over the catalog are embedded by each. Prints one JSON line: the
mean and minimum cosine of each int8 runtime's vectors to float's. Default model: the
random-weight Chinese-CLIP ViT-B/16 of the speed benchmarks.

``--retrieval`` (for a trained model) embeds every captioned photo instead and adds caption →
photo retrieval over them: each caption, embedded by the float text tower as ingest embeds
captions, ranks all the photos; R@1/5/10 is the share whose own photo ranks within 1/5/10
(photos sharing the caption's exact text count as hits too).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def recall(texts: np.ndarray, photos: np.ndarray, captions: list[str]) -> dict:
    """R@1/5/10 of caption ``i`` finding photo ``i`` (or a photo with the same caption)."""
    same = {}
    for i, c in enumerate(captions):
        same.setdefault(c, []).append(i)
    hits = {1: 0, 5: 0, 10: 0}
    for start in range(0, len(texts), 256):
        scores = texts[start : start + 256] @ photos.T
        top = np.argsort(-scores, axis=1)[:, :10]
        for row, ranked in enumerate(top):
            own = set(same[captions[start + row]])
            for k in hits:
                hits[k] += bool(own.intersection(ranked[:k].tolist()))
    return {f"r{k}": v / len(texts) for k, v in hits.items()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip-model", type=Path, help="default: the random ViT-B/16")
    ap.add_argument("--photos", type=int, default=256)
    ap.add_argument("--cache-dir", type=Path, help="int8 tower cache (default: a fresh one)")
    ap.add_argument("--retrieval", action="store_true", help="all captioned photos, R@k")
    common.threads_arg(ap)
    args = ap.parse_args(argv)
    common.apply_threads(args.threads)
    common.require_data()
    model = args.clip_model or common.ensure_clip()

    from ingest.images import decode_for_model
    from ingest.models import openvino_int8
    from ingest.models.clip import ClipEncoder

    catalog = sorted(p for p in common.IMAGES.iterdir() if p.suffix.lower() == ".jpg")
    picked = openvino_int8.calibration_sample(catalog[1::2], args.photos)  # spread, not all
    captions: list[str] = []
    if args.retrieval:
        with common.CAPTIONS.open(encoding="utf-8-sig", newline="") as fh:
            rows = {r[0]: r[1] for r in list(csv.reader(fh))[1:] if len(r) >= 2}
        picked = [p for p in catalog if p.name in rows]
        captions = [rows[p.name] for p in picked]
    out: dict = {"model": str(model), "photos": len(picked)}
    with tempfile.TemporaryDirectory(prefix="tuwen-agree-") as tmp:
        cache = args.cache_dir or Path(tmp)
        ref = ClipEncoder.from_pretrained(model, dtype="float32")
        arrays = np.stack([decode_for_model(str(p), ref.preprocess, 10**9) for p in picked])
        batches = [arrays[i : i + 32] for i in range(0, len(arrays), 32)]
        want = np.concatenate([ref.encode_pixels(b) for b in batches])
        if captions:
            texts = np.concatenate(
                [ref.encode_texts(captions[i : i + 64]) for i in range(0, len(captions), 64)]
            )
            out["float"] = recall(texts, want, captions)
        for runtime in ("onnx", "openvino"):
            enc = ClipEncoder.from_pretrained(
                model, int8=("vision",), int8_runtime=runtime, cache_dir=cache, calibration=catalog
            )
            got = np.concatenate([enc.encode_pixels(b) for b in batches])
            cos = (want * got).sum(1)
            out[runtime] = {
                "runtime": enc.runtime["vision"],
                "mean_cos": float(cos.mean()),
                "min_cos": float(cos.min()),
                "p01_cos": float(np.quantile(cos, 0.01)),
            }
            if captions:
                out[runtime] |= recall(texts, got, captions)
            common.log(f"{runtime}: {out[runtime]}")
    print(json.dumps(common._round(out)))
    return out


if __name__ == "__main__":
    main()
