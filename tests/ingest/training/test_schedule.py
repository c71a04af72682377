"""The learning rate as a function of the step (warm-up, cosine decay) and the wall-time
budget that also advances it."""

from __future__ import annotations

import pytest

from ingest.training import schedule
from ingest.training.schedule import Budget, cosine_lr, lr_factor


def test_factor_warms_up_then_decays_to_zero():
    assert lr_factor(0.0, 0.1) == 0.0
    assert lr_factor(0.05, 0.1) == pytest.approx(0.5)
    assert lr_factor(0.1, 0.1) == pytest.approx(1.0)
    assert lr_factor(0.55, 0.1) == pytest.approx(0.5)
    assert lr_factor(1.0, 0.1) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(0.0, 0.0) == pytest.approx(1.0)  # no warm-up: the peak at once
    assert lr_factor(1.5, 0.1) == lr_factor(1.0, 0.1)  # clipped past the end


def test_lr_by_step_peaks_at_the_end_of_the_warm_up_and_ends_at_zero():
    lr_at = cosine_lr(1e-3, warmup=0.05, total_steps=200)
    assert lr_at(0) == 0.0
    assert lr_at(5) == pytest.approx(0.5e-3)
    assert lr_at(10) == pytest.approx(1e-3)  # the warm-up's last step
    assert lr_at(105) == pytest.approx(0.5e-3)  # half-way through the decay
    assert lr_at(200) == pytest.approx(0.0, abs=1e-15)  # the last step
    assert all(lr_at(s) >= lr_at(s + 1) for s in range(10, 200))


def test_lr_follows_the_budget_when_time_runs_ahead_of_the_steps(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(schedule.time, "monotonic", lambda: clock[0])
    budget = Budget(start=100.0, deadline=200.0)
    lr_at = cosine_lr(1.0, warmup=0.1, total_steps=1000, budget=budget)
    assert lr_at(50) == pytest.approx(0.5)  # steps ahead of the clock
    clock[0] = 155.0  # 55% of the budget spent, 5% of the steps
    assert budget.fraction() == pytest.approx(0.55)
    assert lr_at(50) == pytest.approx(0.5)  # cosine half-way: 0.5 again, from the clock
    clock[0] = 200.0
    assert lr_at(50) == pytest.approx(0.0, abs=1e-12)
    # Without a deadline only the steps count.
    assert cosine_lr(1.0, 0.1, 1000, Budget(100.0, None))(50) == pytest.approx(0.5)


def test_budget_estimates_a_step_and_stops_before_the_deadline(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(schedule.time, "monotonic", lambda: clock[0])
    budget = Budget(start=0.0, deadline=10.0)
    budget.observe(5.0, first_of_kind=True)  # a first step: left out of the estimate
    assert budget.step_s is None and not budget.no_time_for_step(9.9)
    budget.observe(1.0, first_of_kind=False)
    budget.observe(2.0, first_of_kind=False)
    assert budget.step_s == pytest.approx(0.8 * 1.0 + 0.2 * 2.0)
    assert not budget.no_time_for_step(8.0) and budget.no_time_for_step(9.0)
    clock[0] = 8.5
    assert not budget.spent()
    clock[0] = 9.0
    assert budget.spent()
    unlimited = Budget(start=0.0, deadline=None)
    unlimited.observe(1.0, first_of_kind=False)
    assert not unlimited.no_time_for_step(1e9) and not unlimited.spent()
