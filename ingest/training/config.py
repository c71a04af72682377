"""What a fine-tuning run is asked to do (:class:`FinetuneConfig`), what it records after
every epoch (:class:`EpochRecord`) and what it returns (:class:`FinetuneResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class FinetuneError(ValueError):
    """The run cannot start or cannot finish; the message says what to change."""


@dataclass
class FinetuneConfig:
    """What ``tuwen finetune`` was asked to do.

    Attributes:
        images: Folder of photos.
        captions: Caption CSV (``image,text``).
        out: Output model directory.
        base: Pretrained Chinese-CLIP / AltCLIP / CLIP (hub id or local dir).
        from_scratch: Build a random model of ``size`` instead of loading ``base``.
        size: Architecture name from ``ingest.models.architectures.SIZES``
            (``--from-scratch``).
        image_size: Input side length for ``--from-scratch`` (default: the size's own).
        epochs: Epoch limit (``None``: only ``minutes`` limits; neither: 10 epochs).
        minutes: Wall-time limit for the whole run, evaluation and final save included.
        batch_size: Pairs per step (and in-batch negatives).
        lr: Peak learning rate (AdamW); ``None``: 1e-3 from scratch, 1e-5 from a base.
        weight_decay: AdamW weight decay for matrices (not for norms, biases, temperature).
        warmup: Share of the run spent warming the learning rate up.
        freeze: Tower to freeze: ``none``, ``vision`` or ``text``.
        unfreeze_last: Layers at the end of the frozen tower(s) that still train.
        holdout: Share of captioned photos held out for evaluation (by file-name hash).
        soft_targets: Share of each target row given by caption similarity
            (:func:`ingest.training.loss.soft_targets`); 0 is plain InfoNCE. ``None``: 0.5
            from scratch (the towers learn which captions are alike, so nearest neighbours
            share attributes; on catalog-dev after 10 epochs, held-out text→image R@10 0.43
            against 0.26), 0 from a pretrained base.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (autocast; weights stay fp32).
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: CPU threads (``None``: measured at the start: all cores, or one when
            another process keeps a core busy and the extra thread only waits for it).
        seed: Random seed (model init, shuffling, augmentation).
        reproducible: The same weights on every x86 machine (:mod:`ingest.training.reproducible`):
            float32 on the CPU, ``threads`` fixed (default 2) and the AVX2 code paths.
        heads: After the contrastive epochs, train the answer heads on the saved model's
            frozen image vectors (:mod:`ingest.vqa.train`; same hold-out) and save them in
            ``out``.
        pixel_epochs: Epochs of the heads' pixel network (:mod:`ingest.vqa.pixelnet`; 0:
            none).
        progress: Show a progress bar.
        started: ``time.monotonic()`` when the command started (the ``minutes`` clock).
    """

    images: Path
    captions: Path
    out: Path
    base: str | None = None
    from_scratch: bool = False
    size: str = "small"
    image_size: int | None = None
    epochs: int | None = None
    minutes: float | None = None
    batch_size: int = 128
    lr: float | None = None
    weight_decay: float = 0.1
    warmup: float = 0.05
    freeze: str = "none"
    unfreeze_last: int = 0
    holdout: float = 0.1
    soft_targets: float | None = None
    precision: str = "auto"
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    reproducible: bool = False
    heads: bool = True
    pixel_epochs: int = 30
    progress: bool = True
    started: float | None = None

    def settings(self) -> dict[str, Any]:
        """The settings as written to ``training.json`` (paths as strings, no clock or bar)."""
        d = asdict(self)
        d.pop("started")
        d.pop("progress")
        return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}


@dataclass
class EpochRecord:
    """One evaluation: after an epoch (``epoch`` 0 is the model before training).

    Attributes:
        epoch: Epochs trained so far.
        steps: Optimiser steps so far.
        samples: Training pairs seen so far.
        seconds: Wall time since the command started.
        train_loss: Mean loss of the epoch's steps (``None`` before training).
        lr: Learning rate of the epoch's last step.
        logit_scale: The model's temperature (``exp(logit_scale)``).
        samples_per_s: Training pairs per second over the epoch.
        heldout: Held-out recall (:func:`ingest.training.epoch.evaluate`), ``None`` when
            fewer than two photos are held out.
        train_probe: Recall on a fixed sample of training photos.
    """

    epoch: int
    steps: int
    samples: int
    seconds: float
    train_loss: float | None
    lr: float
    logit_scale: float
    samples_per_s: float | None
    heldout: dict | None
    train_probe: dict | None


@dataclass
class FinetuneResult:
    """What a run produced.

    Attributes:
        out: The saved model directory.
        records: One record per evaluation, epoch 0 first.
        best_epoch: The epoch whose weights were saved.
        stopped: ``epochs`` or ``minutes``: the limit that ended the run.
        seconds: Wall time of the whole run, the save included.
        settings: The settings written to ``training.json``.
        heads: The answer heads' hold-out report (:attr:`ingest.vqa.heads.AnswerHeads.report`),
            or ``None`` when none were trained.
    """

    out: Path
    records: list[EpochRecord]
    best_epoch: int
    stopped: str
    seconds: float
    settings: dict = field(default_factory=dict)
    heads: dict | None = None

    @property
    def best(self) -> EpochRecord:
        """The record of the saved epoch."""
        return next(r for r in self.records if r.epoch == self.best_epoch)


def resolve_defaults(config: FinetuneConfig) -> FinetuneConfig:
    """Fill the settings whose default depends on training from scratch or from a base, or
    on a reproducible run."""
    scratch = config.from_scratch
    if config.reproducible:
        from ingest.training.reproducible import run_settings

        threads, device = run_settings(config.threads, config.device)
        config = replace(
            config,
            precision="fp32" if config.precision == "auto" else config.precision,
            device=device,
            threads=threads,
        )
    return replace(
        config,
        lr=config.lr if config.lr is not None else (1e-3 if scratch else 1e-5),
        soft_targets=(
            config.soft_targets if config.soft_targets is not None else (0.5 if scratch else 0.0)
        ),
    )


def check_config(config: FinetuneConfig) -> None:
    """Refuse settings a run cannot use (after :func:`resolve_defaults`).

    Raises:
        FinetuneError: naming the command-line option to change.
    """
    if config.from_scratch == bool(config.base):
        raise FinetuneError("give either --base ID_OR_DIR or --from-scratch")
    if config.from_scratch:
        from ingest.models.architectures import SIZES

        if config.size not in SIZES:
            raise FinetuneError(
                f"unknown architecture size {config.size!r}; choose one of {', '.join(SIZES)}"
            )
    if config.precision not in PRECISIONS:
        raise FinetuneError(f"--precision must be one of {', '.join(PRECISIONS)}")
    for name in ("batch_size", "epochs", "threads"):
        v = getattr(config, name)
        if v is not None and v < 1:
            raise FinetuneError(f"--{name.replace('_', '-')} must be at least 1")
    if config.reproducible and config.precision != "fp32":
        raise FinetuneError(
            "--reproducible trains in float32; drop --precision " + config.precision
        )
    if config.reproducible and config.device != "cpu":
        raise FinetuneError(
            f"--reproducible trains on the CPU; drop --device {config.device} (or give cpu)"
        )
    if config.minutes is not None and config.minutes <= 0:
        raise FinetuneError("--minutes must be positive")
    if not 0 <= config.holdout < 1:
        raise FinetuneError("--holdout must be in [0, 1)")
    if config.lr is None or config.lr <= 0:
        raise FinetuneError("--lr must be positive")
    if config.soft_targets is None or not 0 <= config.soft_targets <= 1:
        raise FinetuneError("--soft-targets must be in [0, 1]")
