"""One training epoch (:func:`train_one_epoch`) and the retrieval evaluation recorded after
it (:func:`evaluate`, :func:`get_clip_metrics`, :func:`epoch_record`)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ingest.training.batches import Batches, features
from ingest.training.config import EpochRecord
from ingest.training.loss import ClipLoss
from ingest.training.precision import Precision
from ingest.training.schedule import Budget
from ingest.training.threads import CpuThreads

log = logging.getLogger(__name__)

#: The temperature is kept at or below 100 (``exp(logit_scale)``), as CLIP does.
MAX_LOGIT_SCALE = math.log(100.0)


@dataclass
class Trainer:
    """What a training step needs, and the counters carried from epoch to epoch.

    Attributes:
        model: The CLIP-family model (``get_image_features``, ``get_text_features``,
            ``logit_scale``), in training mode.
        batches: The training photos and captions (augmented).
        optimizer: The optimiser over the trainable parameters.
        scaler: Gradient scaler for fp16 steps on CUDA, else ``None``.
        loss: The contrastive loss.
        lr_at: The learning rate of a step (:func:`ingest.training.schedule.cosine_lr`).
        precision: The autocast dtype of each step.
        threads: The CPU-thread governor, re-read before each step.
        budget: The wall-time budget (and the step-time estimate).
        batch_size: Pairs per step.
        generator: The random generator that shuffles each epoch.
        progress: Show a progress bar.
        step: Steps taken so far.
        samples: Pairs seen so far.
    """

    model: Any
    batches: Batches
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    loss: ClipLoss
    lr_at: Callable[[int], float]
    precision: Precision
    threads: CpuThreads
    budget: Budget
    batch_size: int
    generator: torch.Generator
    progress: bool = True
    step: int = 0
    samples: int = 0


@dataclass
class EpochStats:
    """What one epoch of steps did.

    Attributes:
        steps: Steps taken in the epoch (0 when the budget allowed none).
        loss: Mean loss of those steps.
        lr: Learning rate of the last step.
        samples_per_s: Training pairs per second over the epoch.
        out_of_time: The budget ended the epoch early.
    """

    steps: int
    loss: float
    lr: float
    samples_per_s: float
    out_of_time: bool


def train_one_epoch(trainer: Trainer, epoch: int, epochs: int | None) -> EpochStats:
    """One pass over the training pairs in a fresh random order, stopping early when the
    next step would not end within the budget.

    Args:
        trainer: The model, optimiser and run state; ``step`` and ``samples`` advance.
        epoch: The epoch's number (from 1), for the progress bar.
        epochs: The epoch limit, if any, for the progress bar.
    """
    t = trainer
    batch = t.batch_size
    steps_per_epoch = len(t.batches) // batch
    perm = torch.randperm(len(t.batches), generator=t.generator).numpy()
    t0, steps, loss_sum, lr = time.monotonic(), 0, 0.0, 0.0
    bar = tqdm(
        total=steps_per_epoch,
        desc=f"epoch {epoch}" + (f"/{epochs}" if epochs else ""),
        unit="step",
        disable=not t.progress,
        leave=False,
    )
    out_of_time = False
    for b in range(steps_per_epoch):
        now = time.monotonic()
        if t.budget.no_time_for_step(now):
            out_of_time = True
            break
        idx = perm[b * batch : (b + 1) * batch]
        lr = t.lr_at(t.step)
        for group in t.optimizer.param_groups:
            group["lr"] = lr
        t.threads.update()
        loss = train_step(t, idx, t.precision.next_dtype())
        dt = time.monotonic() - now
        warming = t.precision.record(dt)
        t.budget.observe(dt, first_of_kind=t.step == 0 or warming)
        t.step += 1
        t.samples += len(idx)
        steps += 1
        loss_sum += loss
        bar.update()
        bar.set_postfix(
            loss=f"{loss:.3f}", samples_s=f"{len(idx) / dt:.0f}", lr=f"{lr:.1e}", refresh=False
        )
    bar.close()
    seconds = time.monotonic() - t0
    return EpochStats(
        steps=steps,
        loss=loss_sum / steps if steps else 0.0,
        lr=lr,
        samples_per_s=steps * batch / seconds if steps else 0.0,
        out_of_time=out_of_time,
    )


def train_step(trainer: Trainer, idx: np.ndarray, dtype: torch.dtype | None) -> float:
    """One optimiser step on the pairs ``idx`` under autocast ``dtype``; returns the loss."""
    t = trainer
    model = t.model
    ids = t.batches.ids[idx].to(t.batches.device)
    bags = t.batches.bags(idx) if t.loss.soft_weight > 0 else None
    with t.precision.autocast(dtype):
        img, txt = features(model, t.batches, idx)
        scale = model.logit_scale.exp()
        loss = t.loss(img, txt, scale.float(), ids, bags)
    t.optimizer.zero_grad(set_to_none=True)
    if t.scaler is not None and dtype == torch.float16:
        t.scaler.scale(loss).backward()
        t.scaler.step(t.optimizer)
        t.scaler.update()
    else:
        loss.backward()
        t.optimizer.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0.0, MAX_LOGIT_SCALE)
    return float(loss.detach())


def recall_at(
    sim: np.ndarray, correct: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)
) -> dict[str, float]:
    """Share of queries (rows) with a correct candidate among their ``k`` best columns."""
    order = np.argsort(-sim, axis=1, kind="stable")
    hit = np.take_along_axis(correct, order, axis=1)
    first = np.where(hit.any(1), hit.argmax(1), sim.shape[1])
    return {f"R@{k}": round(float((first < k).mean()), 4) for k in ks}


def get_clip_metrics(image: np.ndarray, text: np.ndarray, ids: np.ndarray) -> dict[str, Any]:
    """Text→image and image→text R@1/5/10 of paired embeddings.

    Args:
        image: ``(N, D)`` normalised image embeddings.
        text: ``(N, D)`` normalised caption embeddings, row ``i`` paired with image ``i``.
        ids: ``(N,)`` caption ids; a candidate with the query's exact caption counts.

    Returns:
        ``{"n": N, "t2i": {"R@1": ..., "R@5": ..., "R@10": ...}, "i2t": {...}}``.
    """
    correct = ids[:, None] == ids[None, :]
    sim = text @ image.T
    return {"n": len(ids), "t2i": recall_at(sim, correct), "i2t": recall_at(sim.T, correct)}


@torch.inference_mode()
def evaluate(model: Any, batches: Batches, batch_size: int = 256) -> dict[str, Any]:
    """Text→image and image→text R@1/5/10 over ``batches`` (see :func:`get_clip_metrics`)."""
    was_training = model.training
    model.eval()
    imgs, txts = [], []
    for i in range(0, len(batches), batch_size):
        idx = np.arange(i, min(len(batches), i + batch_size))
        a, b = features(model, batches, idx)
        imgs.append(a)
        txts.append(b)
    model.train(was_training)
    return get_clip_metrics(torch.cat(imgs).numpy(), torch.cat(txts).numpy(), batches.ids.numpy())


def mean_recall(metrics: dict | None) -> float:
    """The mean of all recalls of :func:`evaluate`'s result (-1 for none)."""
    if not metrics:
        return -1.0
    return float(np.mean([v for d in ("t2i", "i2t") for v in metrics[d].values()]))


def epoch_record(
    model: Any,
    heldout: Batches | None,
    probe: Batches,
    *,
    epoch: int,
    steps: int,
    samples: int,
    seconds: float,
    train_loss: float | None = None,
    lr: float = 0.0,
    samples_per_s: float | None = None,
) -> EpochRecord:
    """Evaluate the model on the held-out photos and the training probe, and record it.

    Args:
        model: The model after ``epoch`` epochs.
        heldout: The held-out photos (``None``: fewer than two held out).
        probe: A fixed sample of training photos, not augmented.
        epoch, steps, samples, seconds, train_loss, lr, samples_per_s: As in
            :class:`ingest.training.config.EpochRecord` (rounded here).
    """
    return EpochRecord(
        epoch=epoch,
        steps=steps,
        samples=samples,
        seconds=round(seconds, 2),
        train_loss=None if train_loss is None else round(train_loss, 4),
        lr=lr,
        logit_scale=round(model.logit_scale.detach().exp().item(), 3),
        samples_per_s=None if samples_per_s is None else round(samples_per_s, 1),
        heldout=evaluate(model, heldout) if heldout is not None else None,
        train_probe=evaluate(model, probe),
    )


def report_epoch(rec: EpochRecord, progress: bool) -> None:
    """Log the epoch's loss, speed and recall (and print it above the bar with ``progress``)."""
    h = rec.heldout or rec.train_probe
    line = (
        f"epoch {rec.epoch}: loss {rec.train_loss:.3f}, {rec.samples_per_s:.0f} samples/s, "
        f"scale {rec.logit_scale:.1f}; held-out t2i R@1/5/10 "
        + "/".join(f"{v:.2f}" for v in h["t2i"].values())
        + ", i2t "
        + "/".join(f"{v:.2f}" for v in h["i2t"].values())
    )
    if progress:
        tqdm.write(line)
    log.info("%s", line)
