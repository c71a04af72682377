"""The autocast dtype of training steps: from the one device/dtype policy, and for
``auto`` on a bf16-capable CPU the faster of bf16 and fp32 over the first steps."""

from __future__ import annotations

import pytest
import torch

from ingest.models import device as device_policy
from ingest.training.precision import Precision, autocast_dtype, dtype_name

CPU = torch.device("cpu")


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(device_policy, "cpu_has_bf16", lambda: True)


@pytest.fixture
def plain_cpu(monkeypatch):
    monkeypatch.setattr(device_policy, "cpu_has_bf16", lambda: False)


def test_named_precisions_map_to_autocast_dtypes(plain_cpu):
    assert autocast_dtype("fp32", CPU) is None
    assert autocast_dtype("bf16", CPU) is torch.bfloat16
    assert autocast_dtype("fp16", CPU) is torch.float16
    assert autocast_dtype("auto", CPU) is None  # no native bf16: plain float32
    assert [dtype_name(d) for d in (None, torch.bfloat16, torch.float16)] == [
        "fp32",
        "bf16",
        "fp16",
    ]
    with pytest.raises(ValueError, match="precision"):
        autocast_dtype("int8", CPU)


def test_auto_uses_bf16_where_the_cpu_has_it(bf16_cpu):
    assert autocast_dtype("auto", CPU) is torch.bfloat16


def test_a_fixed_precision_is_never_timed(bf16_cpu):
    p = Precision("bf16", CPU)
    assert not p.tuning
    assert [p.next_dtype() for _ in range(3)] == [torch.bfloat16] * 3
    assert p.record(1.0) is False and p.name == "bf16" and p.report == {}


def _run(p: Precision, seconds: dict) -> list:
    used = []
    while p.tuning:
        d = p.next_dtype()
        used.append(d)
        p.record(seconds[d])
    return used


def test_auto_times_bf16_against_fp32_and_keeps_the_faster(bf16_cpu):
    p = Precision("auto", CPU)
    assert p.tuning and p.next_dtype() is torch.bfloat16
    # The first step of each candidate is a warm-up: reported as such, not timed.
    assert p.record(100.0) is True
    assert p.next_dtype() is None and p.record(100.0) is True
    used = _run(p, {torch.bfloat16: 0.5, None: 0.3})
    assert used == [torch.bfloat16, None, torch.bfloat16, None]
    assert p.next_dtype() is None and p.name == "fp32"
    assert p.report == {"bf16 s/step": 0.5, "fp32 s/step": 0.3}

    q = Precision("auto", CPU)
    _run(q, {torch.bfloat16: 0.2, None: 0.3})
    assert q.next_dtype() is torch.bfloat16 and q.name == "bf16"


def test_autocast_context_runs_matmuls_in_the_step_dtype():
    p = Precision("fp32", CPU)
    a = torch.ones(2, 2)
    with p.autocast(torch.bfloat16):
        assert (a @ a).dtype == torch.bfloat16
    with p.autocast(None):
        assert (a @ a).dtype == torch.float32
