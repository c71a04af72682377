"""The number of CPU threads training uses, following the load other processes put on the
machine."""

from __future__ import annotations

import logging
import math
import os
import time

import torch

log = logging.getLogger(__name__)


class CpuThreads:
    """CPU threads for the next steps: every core, or one less per core that other
    processes keep busy (read from ``/proc/stat`` minus this process's own CPU time).

    On the 2-core dev machine, with another job holding one core, one thread ran a step
    1.5-5× faster than two: OpenMP's second thread mostly waits for its core. The load is
    re-read every few seconds, so the count follows other jobs as they start and stop.
    Constructing it sets torch's thread count on CPU (``fixed``, else every core).

    Args:
        fixed: A thread count to keep (``--threads``); ``None`` or 0 follows the load.
        device: The training device; on a GPU the thread count is left alone.
    """

    EVERY_S = 5.0

    def __init__(self, fixed: int | None, device: torch.device) -> None:
        self.cores = os.cpu_count() or 1
        self.fixed = fixed
        self.enabled = device.type == "cpu" and not fixed and self.cores > 1
        self.on_cpu = device.type == "cpu"
        #: Thread counts chosen at each re-read.
        self.history: list[int] = []
        self._last = self._sample()
        if self.on_cpu:
            torch.set_num_threads(fixed or self.cores)

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        """(busy CPU seconds of the machine, CPU seconds of this process, wall time)."""
        try:
            with open("/proc/stat") as fh:
                ticks = [int(x) for x in fh.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        busy = (sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)) / hz
        t = os.times()
        return busy, t.user + t.system, time.monotonic()

    def update(self) -> None:
        """Re-read the load (at most every few seconds) and set the thread count."""
        if not self.enabled or self._last is None:
            return
        now = self._sample()
        if now is None or now[2] - self._last[2] < self.EVERY_S:
            return
        busy, mine, wall = (n - o for n, o in zip(now, self._last, strict=True))
        self._last = now
        others = max(0.0, (busy - mine) / wall)
        threads = self.cores if others < 0.5 else max(1, self.cores - math.ceil(others - 0.25))
        if threads != torch.get_num_threads():
            log.info("other processes use %.1f cores: %d threads", others, threads)
            torch.set_num_threads(threads)
        self.history.append(threads)

    def used(self) -> list[int] | None:
        """The thread counts the run used, for ``training.json`` (``None`` off the CPU)."""
        if not self.on_cpu:
            return None
        return sorted(set(self.history)) or [torch.get_num_threads()]
