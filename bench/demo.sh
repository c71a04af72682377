#!/usr/bin/env bash
# The main job on the bundled dev catalog (or IMAGES_DIR CAPTIONS_CSV given as arguments):
# index the photos and captions into the embedded Qdrant store and show what it holds.
# With no downloadable weights here, TUWEN_CLIP_MODEL defaults to a random-weight model of the
# real Chinese-CLIP ViT-B/16 shape, made once under models/; set it to a real or fine-tuned model.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/catalog-dev
IMAGES=${1:-$DATA/images}
CAPTIONS=${2:-$DATA/train_annotation.csv}
if [ -z "${TUWEN_CLIP_MODEL:-}" ]; then
  export TUWEN_CLIP_MODEL=models/clip-random
  [ -f "$TUWEN_CLIP_MODEL/config.json" ] || .venv/bin/python bench/make_clip.py "$TUWEN_CLIP_MODEL" --captions "$CAPTIONS"
fi
.venv/bin/tuwen ingest "$IMAGES" --captions "$CAPTIONS" --report tuwen-data/last-ingest.json || [ $? -eq 3 ]
.venv/bin/tuwen stats
