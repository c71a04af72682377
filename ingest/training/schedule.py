"""The learning-rate schedule (linear warm-up, then cosine decay to zero) and the wall-time
budget that both ends a ``--minutes`` run and advances its schedule."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


def lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` of the run, then cosine decay to zero.

    Args:
        progress: Share of the run done, clipped to ``[0, 1]``.
        warmup: Share of the run spent warming up (0: none).

    Returns:
        The factor of the peak learning rate: 0 at the start, 1 at the end of the warm-up,
        0 at the end of the run.
    """
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return progress / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (progress - warmup) / max(1e-9, 1.0 - warmup)))


class Budget:
    """The wall time left for training steps, and a running estimate of one step's time.

    Args:
        start: ``time.monotonic()`` when training steps began.
        deadline: ``time.monotonic()`` by which the last step must end (``None``: no limit).
    """

    def __init__(self, start: float, deadline: float | None) -> None:
        self.start = start
        self.deadline = deadline
        self.step_s: float | None = None

    def fraction(self) -> float:
        """Share of the budget spent (0 without a deadline)."""
        if not self.deadline:
            return 0.0
        return (time.monotonic() - self.start) / (self.deadline - self.start)

    def observe(self, seconds: float, first_of_kind: bool) -> None:
        """Fold one step's wall time into the estimate.

        Args:
            seconds: The step's wall time.
            first_of_kind: The step was a first one (kernel selection, allocator warm-up):
                it says little of the rest and is left out.
        """
        if not first_of_kind:
            self.step_s = seconds if self.step_s is None else 0.8 * self.step_s + 0.2 * seconds

    def no_time_for_step(self, now: float) -> bool:
        """Whether a step started at ``now`` would end after the deadline (once timed)."""
        return bool(self.deadline and self.step_s and now + self.step_s > self.deadline)

    def spent(self) -> bool:
        """Whether the budget has no room left for another step."""
        return bool(self.deadline and time.monotonic() + (self.step_s or 0) > self.deadline)


def cosine_lr(
    base_lr: float, warmup: float, total_steps: int | None, budget: Budget | None = None
) -> Callable[[int], float]:
    """The learning rate as a function of the step.

    Progress is the share of ``total_steps`` done or, under a wall-time budget, the share of
    the budget spent, whichever is further along; so a run limited by minutes still warms
    up and decays to zero by its deadline.

    Args:
        base_lr: The peak learning rate.
        warmup: Share of the run spent warming up.
        total_steps: Steps of the whole run (``None``: only the budget measures progress).
        budget: The wall-time budget, if any.
    """

    def lr_at(step: int) -> float:
        progress = step / total_steps if total_steps else 0.0
        if budget is not None and budget.deadline:
            progress = max(progress, budget.fraction())
        return base_lr * lr_factor(progress, warmup)

    return lr_at
