#!/usr/bin/env bash
# The main job on the dev catalog (or IMAGES_DIR CAPTIONS_CSV [QUERY_JSON [ANSWERS_JSON]]):
# train a CLIP on the catalog's captioned photos, index the photos and captions into the
# embedded Qdrant store, answer the questions of query.json with cited images, and score the
# answers when the truth file is there.
#
# Each catalog keeps its own model and store, named after the caption CSV's folder:
# models/<catalog>/clip and tuwen-data/<catalog>/.
# With no downloadable weights here, TUWEN_CLIP_MODEL defaults to a model trained from scratch
# on the catalog, made once, with its answer heads: a set number of epochs (TRAIN_EPOCHS, default
# 40), seeded and --reproducible (float32, 2 threads, the AVX2 code paths), so every machine trains
# the same model (a slower one takes longer, it does not get a worse model). TRAIN_MINUTES
# optionally caps the training's wall time (and then the model depends on the machine's speed).
# Set TUWEN_CLIP_MODEL to a real or fine-tuned model to skip the training.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/catalog-dev
IMAGES=${1:-$DATA/images}
CAPTIONS=${2:-$DATA/train_annotation.csv}
QUERIES=${3:-$DATA/query.json}
TRUTH=${4:-$DATA/answers.json}
CATALOG=$(basename "$(cd "$(dirname "$CAPTIONS")" && pwd)")
export TUWEN_DATA_DIR=${TUWEN_DATA_DIR:-tuwen-data/$CATALOG}
if [ -z "${TUWEN_CLIP_MODEL:-}" ]; then
  export TUWEN_CLIP_MODEL=models/$CATALOG/clip
  if [ ! -f "$TUWEN_CLIP_MODEL/config.json" ]; then
    .venv/bin/tuwen finetune --images "$IMAGES" --captions "$CAPTIONS" --from-scratch \
      --epochs "${TRAIN_EPOCHS:-40}" --reproducible --seed 0 \
      ${TRAIN_MINUTES:+--minutes "$TRAIN_MINUTES"} --out "$TUWEN_CLIP_MODEL"
  elif [ ! -f "$TUWEN_CLIP_MODEL/vqa_heads.json" ]; then  # a model trained before answer heads existed
    .venv/bin/tuwen finetune --images "$IMAGES" --captions "$CAPTIONS" --heads-only --reproducible --out "$TUWEN_CLIP_MODEL"
  fi
fi
# Photos are read again at answer time for their colour features (the VQA stage).
export TUWEN_IMAGES_DIR=${TUWEN_IMAGES_DIR:-$IMAGES}
mkdir -p "$TUWEN_DATA_DIR"
# Photos without a caption get a generated one (and predicted attributes) from the answer heads.
.venv/bin/tuwen ingest "$IMAGES" --captions "$CAPTIONS" --caption-uncaptioned --report "$TUWEN_DATA_DIR/last-ingest.json" || [ $? -eq 3 ]
.venv/bin/tuwen stats
if [ -f "$QUERIES" ]; then
  .venv/bin/tuwen answer "$QUERIES" -o "$TUWEN_DATA_DIR/answers.json" || [ $? -eq 3 ]
  if [ -f "$TRUTH" ]; then
    .venv/bin/tuwen eval "$TUWEN_DATA_DIR/answers.json" --truth "$TRUTH" --images "$IMAGES"
  fi
fi
