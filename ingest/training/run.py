"""A fine-tuning run: load the catalog and the model, decode the photos once, train epoch
by epoch within the limits, keep the best evaluated weights and save them with
``training.json``, then train the answer heads on the saved model (:mod:`ingest.vqa.train`)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ingest.catalog import load_catalog
from ingest.models.device import pick_device
from ingest.training.augment import Augment
from ingest.training.batches import Batches
from ingest.training.checkpoint import BestWeights, save_run
from ingest.training.config import (
    FinetuneConfig,
    FinetuneError,
    FinetuneResult,
    check_config,
    resolve_defaults,
)
from ingest.training.data import (
    catalog_pairs,
    decode_images,
    resize_array,
    split_pairs,
    square_resize,
)
from ingest.training.epoch import (
    Trainer,
    epoch_record,
    report_epoch,
    train_one_epoch,
)
from ingest.training.loss import ClipLoss
from ingest.training.model import Trainable, build_scratch, freeze_layers, load_base
from ingest.training.precision import Precision, grad_scaler
from ingest.training.reproducible import pin_cpu_kernels
from ingest.training.schedule import Budget, cosine_lr
from ingest.training.threads import CpuThreads

log = logging.getLogger(__name__)

#: Training photos are decoded this much larger than the model's input, so that random
#: crops keep detail.
SOURCE_SCALE = 1.15
#: Training photos whose recall is reported next to the held-out recall.
TRAIN_PROBE = 256


def finetune(config: FinetuneConfig) -> FinetuneResult:
    """Train a CLIP-family model on a captioned catalog and save it to ``config.out``.

    Raises:
        FinetuneError: bad settings, too few captioned photos, or an output folder that
            holds something other than a model.
        CatalogError, ModelNotFound: from reading the catalog or loading ``base``.
    """
    t_start = config.started if config.started is not None else time.monotonic()
    deadline = t_start + config.minutes * 60 if config.minutes else None
    config = resolve_defaults(config)
    check_config(config)
    # Before any tensor operation: torch reads its kernels' instruction set at the first.
    kernels = pin_cpu_kernels() if config.reproducible else None
    if config.reproducible and config.minutes:
        log.warning(
            "--minutes %s: a run the limit stops early depends on this machine's speed, "
            "--reproducible or not (training.json's `stopped` says which limit ended it)",
            config.minutes,
        )
    out = Path(config.out)
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / "config.json").exists())
    ):
        raise FinetuneError(f"{out} exists and is not a model directory; choose a new --out")
    device = pick_device(config.device)
    threads = CpuThreads(config.threads, device)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    data = _prepare(config, device, gen)
    model = data.trainable.model

    batch = min(config.batch_size, len(data.train))
    steps_per_epoch = len(data.train) // batch
    epochs = config.epochs if config.epochs else (None if config.minutes else 10)
    optimizer = torch.optim.AdamW(
        param_groups(model, config.weight_decay), lr=config.lr, betas=(0.9, 0.98), eps=1e-6
    )

    t0 = time.monotonic()
    records = [
        epoch_record(model, data.heldout, data.probe, epoch=0, steps=0, samples=0, seconds=0.0)
    ]
    reserve = _reserve(model, time.monotonic() - t0, config.minutes)
    best = BestWeights(records[0])
    budget = Budget(time.monotonic(), deadline - reserve if deadline else None)
    if budget.deadline is not None and budget.deadline <= budget.start:
        raise FinetuneError(
            f"--minutes {config.minutes} leaves no time to train after loading and decoding "
            f"({budget.start - t_start:.0f}s); give it more minutes"
        )
    trainer = Trainer(
        model=model,
        batches=data.train,
        optimizer=optimizer,
        scaler=grad_scaler(device),
        loss=ClipLoss(soft_weight=config.soft_targets or 0.0),
        lr_at=cosine_lr(
            config.lr, config.warmup, epochs * steps_per_epoch if epochs else None, budget
        ),
        precision=Precision(config.precision, device),
        threads=threads,
        budget=budget,
        batch_size=batch,
        generator=gen,
        progress=config.progress,
    )

    stopped, epoch = "epochs", 0
    while epochs is None or epoch < epochs:
        epoch += 1
        stats = train_one_epoch(trainer, epoch, epochs)
        if stats.steps:
            rec = epoch_record(
                model,
                data.heldout,
                data.probe,
                epoch=epoch,
                steps=trainer.step,
                samples=trainer.samples,
                seconds=time.monotonic() - t_start,
                train_loss=stats.loss,
                lr=stats.lr,
                samples_per_s=stats.samples_per_s,
            )
            records.append(rec)
            best.offer(rec, model)
            report_epoch(rec, config.progress)
        if stats.out_of_time or budget.spent():
            stopped = "minutes"
            break

    best.restore(model)
    result = FinetuneResult(
        out=out,
        records=records,
        best_epoch=best.epoch,
        stopped=stopped,
        seconds=0.0,
        settings={
            **config.settings(),
            "source": data.trainable.source,
            "image_size": data.trainable.image_size,
            "device": str(device),
            "precision": trainer.precision.name,
            "threads": threads.used(),
            "cpu_kernels": kernels or torch.backends.cpu.get_cpu_capability(),
            "steps_per_epoch": steps_per_epoch,
            "batch_size_used": batch,
            "vocab_size": len(data.trainable.tokenizer),
            **data.frozen,
            "train_images": len(data.train),
            "heldout_images": data.n_heldout,
            "skipped_images": data.n_pairs - len(data.train) - data.n_heldout,
            "decode_seconds": round(data.decode_s, 1),
            "tuning": trainer.precision.report,
        },
    )
    save_run(data.trainable, result, t_start)
    if config.heads:
        from ingest.vqa.fit import HeadsConfig
        from ingest.vqa.train import train_heads

        result.heads = train_heads(
            out,
            config.images,
            config.captions,
            config=HeadsConfig.of(
                config.holdout, config.pixel_epochs, config.seed, threads=config.threads
            ),
            device=str(device),
            progress=config.progress,
            deadline=deadline,
        ).report
    return result


@dataclass
class _Data:
    """The model to train and its photos, decoded once."""

    trainable: Trainable
    frozen: dict[str, int]
    train: Batches
    probe: Batches
    heldout: Batches | None
    n_heldout: int
    n_pairs: int
    decode_s: float


def _prepare(config: FinetuneConfig, device: torch.device, gen: torch.Generator) -> _Data:
    """Read the catalog, load or build the model, and decode the photos: training photos a
    little larger (random crops), held-out photos exactly as ingest will see them."""
    rng = np.random.default_rng(config.seed)
    pairs = catalog_pairs(load_catalog(config.images, config.captions))
    train, held = split_pairs(pairs, config.holdout)
    if len(train) < 2:
        raise FinetuneError(
            f"{config.captions}: {len(train)} captioned photos to train on; a contrastive "
            "model needs at least 2 (and hundreds to learn anything)"
        )
    if config.from_scratch:
        trainable = build_scratch(
            [p.caption for p in train],
            config.size,
            device=str(device),
            image_size=config.image_size,
            seed=config.seed,
        )
    else:
        trainable = load_base(config.base, device=str(device))
    trainable.model.to(device).train()
    frozen = freeze_layers(trainable.model, config.freeze, config.unfreeze_last)
    px = trainable.image_size

    t0 = time.monotonic()
    src, kept = decode_images(train, square_resize(math.ceil(px * SOURCE_SCALE)))
    train = [train[i] for i in kept]
    held_px, kept_h = decode_images(held, trainable.preprocess)
    held = [held[i] for i in kept_h]
    decode_s = time.monotonic() - t0
    log.info("decoded %d + %d photos in %.1fs", len(train), len(held), decode_s)

    captions = [p.caption for p in train]
    probe_idx = np.sort(rng.permutation(len(train))[: min(TRAIN_PROBE, len(train))])
    return _Data(
        trainable=trainable,
        frozen=frozen,
        train=Batches(trainable, src, captions, device, aug=Augment(), generator=gen),
        probe=Batches(
            trainable, resize_array(src[probe_idx], px), [captions[i] for i in probe_idx], device
        ),
        heldout=(
            Batches(trainable, held_px, [p.caption for p in held], device)
            if len(held) > 1
            else None
        ),
        n_heldout=len(held),
        n_pairs=len(pairs),
        decode_s=decode_s,
    )


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay for the trainable matrices, none for norms, biases and
    the temperature."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "logit_scale" in name else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _reserve(model: torch.nn.Module, eval_s: float, minutes: float | None) -> float:
    """Seconds kept back from training for the last evaluation and the save (measured:
    0.2 s to save a 10M-parameter model), with a margin for a busy machine."""
    n_params = sum(p.numel() for p in model.parameters())
    save_s = 0.5 + n_params * 4 / 50e6
    return eval_s * 1.5 + save_s + 1.0 + 0.01 * (minutes or 0) * 60
