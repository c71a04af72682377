"""Mixed precision for training: the autocast dtype for ``--precision`` (from the one device
and dtype policy, :mod:`ingest.models.device`), and for ``auto`` on a CPU with bf16
instructions a short timing of bf16 against fp32 on the first steps."""

from __future__ import annotations

import logging
import math
from contextlib import AbstractContextManager

import torch

from ingest.models.device import pick_dtype

log = logging.getLogger(__name__)

#: ``--precision`` names → dtype names of :func:`ingest.models.device.pick_dtype`.
_DTYPE_NAMES = {"auto": "auto", "fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
_SHORT = {torch.bfloat16: "bf16", torch.float16: "fp16"}


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision name (``None``: plain float32).

    ``auto``: bf16 on CUDA devices that support it, else fp16; on CPU bf16 where the CPU
    has native bf16 matmuls, else float32.

    Raises:
        ValueError: for a name outside ``auto``, ``fp32``, ``bf16``, ``fp16``.
    """
    if precision not in _DTYPE_NAMES:
        raise ValueError(f"precision must be one of {', '.join(_DTYPE_NAMES)}, got {precision!r}")
    dtype = pick_dtype(_DTYPE_NAMES[precision], device)
    return None if dtype == torch.float32 else dtype


def dtype_name(dtype: torch.dtype | None) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for an autocast dtype (``None`` is fp32)."""
    return "fp32" if dtype is None else _SHORT[dtype]


def grad_scaler(device: torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 steps on CUDA (``None`` on CPU)."""
    return torch.amp.GradScaler("cuda") if device.type == "cuda" else None


class Precision:
    """The autocast dtype of each training step.

    For ``--precision auto`` on a CPU with bf16 instructions it times the first training
    steps (which still train the model) alternately with bf16 autocast and in fp32, and
    keeps the faster. Measured on the 2-core dev machine (AVX512-BF16, no AMX) with the
    from-scratch model at batch 128: bf16 ~1.1-1.4× faster than fp32 (``settings.tuning``
    in training.json has the run's own numbers); without native bf16 the casts cost more
    than they save.

    Args:
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        device: The training device.
    """

    WARM = 1  # untimed steps per candidate (kernel selection, allocator warm-up)
    TIMED = 2

    def __init__(self, precision: str, device: torch.device) -> None:
        self.device = device
        self.dtype = autocast_dtype(precision, device)
        self.candidates: list[torch.dtype | None] = []
        if device.type == "cpu" and precision == "auto" and self.dtype is not None:
            self.candidates = [self.dtype, None]
        self.times = [math.inf] * len(self.candidates)
        self.i = 0
        #: ``{"bf16 s/step": ..., "fp32 s/step": ...}`` once the timing is done.
        self.report: dict[str, float] = {}

    @property
    def tuning(self) -> bool:
        """Whether the next step is still a timed trial."""
        return self.i < len(self.candidates) * (self.WARM + self.TIMED)

    @property
    def name(self) -> str:
        """The dtype of the latest step (the chosen one once tuning is done)."""
        return dtype_name(self.dtype)

    def next_dtype(self) -> torch.dtype | None:
        """The autocast dtype for the next step."""
        if self.tuning:
            self.dtype = self.candidates[self.i % len(self.candidates)]
        return self.dtype

    def autocast(self, dtype: torch.dtype | None) -> AbstractContextManager:
        """An autocast context for ``dtype`` on the device (disabled for ``None``)."""
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def record(self, seconds: float) -> bool:
        """Note a step's wall time.

        Returns:
            Whether the step was a candidate's untimed first step (its time says little
            of the steps to come).
        """
        if not self.tuning:
            return False
        k = self.i % len(self.candidates)
        warming = self.i < len(self.candidates) * self.WARM
        if not warming:
            self.times[k] = min(self.times[k], seconds)
        self.i += 1
        if not self.tuning:
            self.dtype = self._best()
        return warming

    def _best(self) -> torch.dtype | None:
        self.report = {
            f"{dtype_name(d)} s/step": round(t, 3)
            for d, t in zip(self.candidates, self.times, strict=True)
        }
        log.info("precision: %s", self.report)
        return self.candidates[self.times.index(min(self.times))]
