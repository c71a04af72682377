"""One device and dtype policy for every model tuwen loads (CLIP towers, the trainer, LLMs).

torch is imported inside the functions, so reading this module costs nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

_TRUE = ("1", "true", "yes", "on")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
DTYPES = ("float32", "bfloat16", "float16")


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 matmuls natively (AMX-BF16 or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; ``cpu`` and ``cuda[:N]`` pass.

    Raises:
        ValueError: for any other value, naming it.
    """
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return device


def pick_device(device: str = "auto") -> Any:
    """The ``torch.device`` for ``device`` (see :func:`resolve_device`)."""
    import torch

    return torch.device(resolve_device(str(device)))


def pick_dtype(dtype: str, device: Any) -> Any:
    """The torch dtype for ``dtype`` on ``device`` (a ``torch.device`` or its name).

    ``auto``: bf16 on CUDA devices that support it, else fp16; on CPU bf16 where the CPU has
    native bf16 matmuls (AMX/AVX512-BF16; it halves time to first token there), else fp32.

    Raises:
        ValueError: for a dtype name outside ``auto``, ``float32``, ``bfloat16``, ``float16``.
    """
    import torch

    kind = device.type if isinstance(device, torch.device) else str(device).split(":")[0]
    if dtype == "auto":
        if kind == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_has_bf16() else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be 'auto' or one of {sorted(DTYPES)}, got {dtype!r}")
    return getattr(torch, dtype)


def offline() -> bool:
    """Whether the Hugging Face hub is switched off (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``)."""
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def check_remote_code(trust_remote_code: bool, revision: str | None) -> None:
    """Refuses remote code (a model repository's own Python) unless its commit is pinned.

    Args:
        trust_remote_code: Whether the model's own code would run
            (``TUWEN_LLM_TRUST_REMOTE_CODE``).
        revision: The revision it would run at (``TUWEN_LLM_REVISION``).

    Raises:
        ValueError: For remote code without a full 40-hex commit id.
    """
    if trust_remote_code and not (revision and _COMMIT.match(revision)):
        raise ValueError(
            "trust_remote_code=True runs code from the model repository; it is only "
            "allowed with revision pinned to a full 40-hex commit id (got "
            f"revision={revision!r}); pass the commit you reviewed, or use a "
            "transformers-native model such as THUDM/glm-edge-1.5b-chat"
        )
