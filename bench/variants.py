"""Variant thresholds, measured on an indexed catalog with captions.

    python bench/variants.py --data-dir DIR [--collection tuwen]

Every photo's nearest neighbour by CLIP image vector is a candidate pair. A pair counts as
the same model (shot again, or in another colour) when both captions parse to the same brand,
gender and category (colour may differ). For each pair of thresholds (image cosine, look
cosine) it prints one JSON line: the candidate pairs kept, the share of them that are the
same model (precision), and the share of same-model nearest pairs kept (recall). The defaults
of :mod:`service.answering.variants` (settings ``TUWEN_VARIANT_IMAGE_MIN`` and
``TUWEN_VARIANT_LOOK_MIN``) are the loosest thresholds with precision ≥ 0.9 for the model
they were measured with.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ingest.store import IMAGE, LOOK, EdgeStore  # noqa: E402

KEY = ("brand", "gender", "category")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--collection", default="tuwen")
    args = ap.parse_args()
    with EdgeStore(args.data_dir, args.collection) as store:
        ids = sorted(store.manifest())
        points = store.get(ids, [IMAGE, LOOK])
    pts = [p for p in points if p.caption and IMAGE in p.vectors and LOOK in p.vectors]
    img = np.asarray([p.vectors[IMAGE] for p in pts], dtype=np.float32)
    look = np.asarray([p.vectors[LOOK] for p in pts], dtype=np.float32)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    look /= np.linalg.norm(look, axis=1, keepdims=True)
    attrs = [p.payload.get("attributes") or {} for p in pts]
    keys = [tuple(a.get(f) for f in KEY) for a in attrs]
    sim = img @ img.T
    np.fill_diagonal(sim, -1)
    nn = sim.argmax(axis=1)
    pair_img = sim[np.arange(len(pts)), nn]
    pair_look = np.einsum("ij,ij->i", look, look[nn])
    full = np.array([None not in keys[i] for i in range(len(pts))])
    same = np.array([keys[i] == keys[j] for i, j in enumerate(nn)]) & full
    print(
        json.dumps(
            {
                "nn_image_cosine_quantiles": [
                    round(float(q), 4) for q in np.quantile(pair_img, [0.1, 0.5, 0.9, 0.99])
                ]
            }
        )
    )
    for t_img in (0.0, 0.97, 0.99, 0.998, 0.999):
        for t_look in (0.0, 0.95, 0.98, 0.99):
            kept = (pair_img >= t_img) & (pair_look >= t_look) & full
            n = int(kept.sum())
            line = {
                "image_min": t_img,
                "look_min": t_look,
                "pairs": n,
                "precision": round(float(same[kept].mean()), 3) if n else None,
                "recall": round(float((same & kept).sum() / max(1, same.sum())), 3),
            }
            print(json.dumps(line))


if __name__ == "__main__":
    main()
