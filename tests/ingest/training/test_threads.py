"""The CPU-thread governor: a fixed count, or every core less the ones other processes
keep busy."""

from __future__ import annotations

import os

import pytest
import torch

from ingest.training.threads import CpuThreads


@pytest.fixture(autouse=True)
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_fixed_count_is_set_and_never_changed():
    t = CpuThreads(1, torch.device("cpu"))
    assert torch.get_num_threads() == 1 and not t.enabled
    t.update()
    assert t.used() == [1]


def test_gpu_runs_leave_the_cpu_threads_alone():
    torch.set_num_threads(1)
    t = CpuThreads(None, torch.device("cuda"))
    assert torch.get_num_threads() == 1 and t.used() is None


def test_threads_follow_the_load_of_other_processes(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    samples = iter(
        [
            (0.0, 0.0, 0.0),  # at construction
            (1.0, 0.0, 1.0),  # 1 s later: too soon to re-read
            (12.0, 5.0, 5.0),  # 5 s: others used (12 - 5) / 5 = 1.4 cores → 4 - 2 threads
            (24.0, 15.0, 10.0),  # 5 s more: others (12 - 10) / 5 = 0.4 cores → all 4
        ]
    )
    monkeypatch.setattr(CpuThreads, "_sample", staticmethod(lambda: next(samples)))
    t = CpuThreads(None, torch.device("cpu"))
    assert t.enabled and torch.get_num_threads() == 4
    t.update()
    assert t.history == []
    t.update()
    assert torch.get_num_threads() == 2
    t.update()
    assert torch.get_num_threads() == 4
    assert t.history == [2, 4] and t.used() == [2, 4]
