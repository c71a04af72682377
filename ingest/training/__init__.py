"""CLIP fine-tuning (``tuwen finetune``): a pretrained Chinese-CLIP / AltCLIP / CLIP, or a
small Chinese-CLIP trained from scratch on the catalog's own captions.

Modules: ``data`` (pairs, held-out split, one-time decoding), ``augment`` (batched crops,
flips, colour-safe jitter), ``model`` (loading, from-scratch build and init, freezing),
``loop`` (loss, schedule, evaluation, budget, saving).
"""

from ingest.training.loop import FinetuneConfig, FinetuneError, FinetuneResult, finetune

__all__ = ["FinetuneConfig", "FinetuneError", "FinetuneResult", "finetune"]
