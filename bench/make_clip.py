"""Save a random-weight Chinese-CLIP of the real ViT-B/16 shape (or another size) to a directory.

    python bench/make_clip.py models/clip-random              # real chinese-clip-vit-base-patch16 shape
    python bench/make_clip.py models/clip-tiny --size tiny

The vocabulary is 21,128 entries like the real model's (characters of the given captions, then
further CJK characters). Speed depends on the shape, not on the weights.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from ingest.models.architectures import SIZES, build_chinese_clip, caption_vocab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="base", choices=sorted(SIZES))
    ap.add_argument(
        "--captions", type=Path, help="caption CSV whose characters seed the vocabulary"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    texts: list[str] = []
    if args.captions and args.captions.exists():
        with args.captions.open(encoding="utf-8-sig", newline="") as fh:
            texts = [row[-1] for row in csv.reader(fh)]
    vocab = caption_vocab(texts, size=21128 if args.size == "base" else None)
    build_chinese_clip(args.out, vocab, args.size, seed=args.seed)
    print(f"saved random {args.size} Chinese-CLIP ({len(vocab)} tokens) to {args.out}")


if __name__ == "__main__":
    main()
