#!/usr/bin/env bash
# The main job on the dev catalog (or IMAGES_DIR CAPTIONS_CSV [QUERY_JSON [ANSWERS_JSON]]):
# index the photos and captions into the embedded Qdrant store, answer the questions of
# query.json with cited images, and score the answers when the truth file is there.
# With no downloadable weights here, TUWEN_CLIP_MODEL defaults to a random-weight model of the
# real Chinese-CLIP ViT-B/16 shape, made once under models/; set it to a real or fine-tuned model.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/catalog-dev
IMAGES=${1:-$DATA/images}
CAPTIONS=${2:-$DATA/train_annotation.csv}
QUERIES=${3:-$DATA/query.json}
TRUTH=${4:-$DATA/answers.json}
if [ -z "${TUWEN_CLIP_MODEL:-}" ]; then
  export TUWEN_CLIP_MODEL=models/clip-random
  [ -f "$TUWEN_CLIP_MODEL/config.json" ] || .venv/bin/python bench/make_clip.py "$TUWEN_CLIP_MODEL" --captions "$CAPTIONS"
fi
mkdir -p tuwen-data
.venv/bin/tuwen ingest "$IMAGES" --captions "$CAPTIONS" --report tuwen-data/last-ingest.json || [ $? -eq 3 ]
.venv/bin/tuwen stats
if [ -f "$QUERIES" ]; then
  .venv/bin/tuwen answer "$QUERIES" -o tuwen-data/answers.json || [ $? -eq 3 ]
  if [ -f "$TRUTH" ]; then
    .venv/bin/tuwen eval tuwen-data/answers.json --truth "$TRUTH" --images "$IMAGES"
  fi
fi
