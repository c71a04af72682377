#!/usr/bin/env bash
# The main job on the dev catalog (or IMAGES_DIR CAPTIONS_CSV [QUERY_JSON [ANSWERS_JSON]]):
# train a CLIP on the catalog's captioned photos, index the photos and captions into the
# embedded Qdrant store, answer the questions of query.json with cited images, and score the
# answers when the truth file is there.
# With no downloadable weights here, TUWEN_CLIP_MODEL defaults to a model trained from scratch
# on the catalog (TRAIN_MINUTES, default 15, on 2 CPU cores), made once under models/; set it
# to a real or fine-tuned model to skip the training.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/catalog-dev
IMAGES=${1:-$DATA/images}
CAPTIONS=${2:-$DATA/train_annotation.csv}
QUERIES=${3:-$DATA/query.json}
TRUTH=${4:-$DATA/answers.json}
if [ -z "${TUWEN_CLIP_MODEL:-}" ]; then
  export TUWEN_CLIP_MODEL=models/clip-catalog
  [ -f "$TUWEN_CLIP_MODEL/config.json" ] || .venv/bin/tuwen finetune --images "$IMAGES" \
    --captions "$CAPTIONS" --from-scratch --minutes "${TRAIN_MINUTES:-15}" --out "$TUWEN_CLIP_MODEL"
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
