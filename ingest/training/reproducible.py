"""Reproducible training on the CPU: the same catalog, seed and settings give the same
weights on every x86 machine, whatever its core count, load or vector instructions.

Float sums are not associative, so three things change a model's weights in the last bits,
and after a few thousand steps the model itself:

- **the thread count**: torch and MKL split a reduction into one part per thread. A count
  that follows the machine's load (the default, :class:`~ingest.training.threads.CpuThreads`)
  or its core count gives another sum order;
- **the vector width**: torch's own kernels, oneDNN and MKL each pick AVX2 or AVX-512 code at
  run time, and the two sum in another order;
- **mixed precision**: ``--precision auto`` picks bf16 or fp32 by timing the first steps.

A reproducible run fixes all three: float32, a fixed thread count (:data:`THREADS` unless
``--threads`` says otherwise) and the AVX2 code paths of all three libraries, which every
x86-64 machine of the last decade has. The price, on the 2-core dev machine (AVX-512 with
BF16/VNNI; ``bench/reproducible_cost.py``, float32, 2 threads): a step of the from-scratch
CLIP takes 1.02× its AVX-512 time (its matmuls), a step of the answer heads' pixel network
1.64× (its convolutions): in the main job the pixel network took 14 minutes, against about
9 with AVX-512.

Not pinned: the int8 image tower the answer heads embed the photos with (ONNX Runtime or
OpenVINO) picks its own int8 kernels, VNNI or not, so across such machines the heads may
still differ in the last bits.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

#: Threads of a reproducible run unless ``--threads`` is given: the core count of the
#: smallest machine the main job is sized for.
THREADS = 2

#: The environment that selects the AVX2 code paths: torch's kernels (read at the first
#: tensor operation), oneDNN's (read when its first primitive is made) and MKL's
#: (conditional numerical reproducibility; ``STRICT`` also makes its matrix products
#: independent of the thread count).
PINNED_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "AVX2,STRICT",
}


def run_settings(threads: int | None, device: str) -> tuple[int, str]:
    """The thread count and device of a reproducible run: ``threads`` if given, else
    :data:`THREADS`; the CPU for ``auto`` (another device is refused by the caller)."""
    return (THREADS if threads is None else threads), ("cpu" if device == "auto" else device)


def pin_cpu_kernels() -> str:
    """Select the AVX2 code paths for the rest of the process and return the vector
    instructions torch's kernels use (``AVX2`` when the pinning took).

    A variable already set in the environment is kept. The pinning only takes in a process
    that has not yet run a tensor operation (``tuwen finetune`` calls this first); if one
    already ran, the kernels stay as they were, and a warning says so.
    """
    import torch

    for name, value in PINNED_ENV.items():
        os.environ.setdefault(name, value)
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != "AVX2":
        log.warning(
            "torch's kernels use %s, not AVX2: this process ran tensor operations before "
            "the pinning (or the CPU lacks AVX2), so the weights may differ from another "
            "machine's",
            capability,
        )
    return capability
