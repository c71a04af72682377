"""CLIP fine-tuning (``tuwen finetune``): a pretrained Chinese-CLIP / AltCLIP / CLIP, or a
small Chinese-CLIP trained from scratch on the catalog's own captions.

Modules: ``config`` (settings, epoch records, result), ``data`` (pairs, held-out split,
one-time decoding), ``augment`` (batched crops, flips, colour-safe jitter), ``batches``
(model-ready batches and embeddings), ``model`` (loading, from-scratch build and init,
freezing), ``loss`` (contrastive loss, soft targets), ``schedule`` (learning rate and
wall-time budget), ``precision`` (autocast dtype), ``threads`` (CPU threads),
``epoch`` (one epoch, evaluation), ``checkpoint`` (best weights, the save), ``run``
(the whole run).
"""

from ingest.training.config import FinetuneConfig, FinetuneError, FinetuneResult
from ingest.training.run import finetune

__all__ = ["FinetuneConfig", "FinetuneError", "FinetuneResult", "finetune"]
