"""One device and dtype policy: what ``auto`` resolves to, and errors that name the value."""

from __future__ import annotations

import pytest
import torch

from ingest.models import device


def test_auto_dtype_is_bf16_on_cpu_only_where_the_cpu_has_it(monkeypatch):
    assert device.pick_dtype("float32", torch.device("cpu")) is torch.float32
    assert device.pick_dtype("float16", "cpu") is torch.float16
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    assert device.pick_dtype("auto", torch.device("cpu")) is torch.bfloat16
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    assert device.pick_dtype("auto", "cpu") is torch.float32


def test_auto_dtype_on_cuda_prefers_bf16_where_supported(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert device.pick_dtype("auto", "cuda:0") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert device.pick_dtype("auto", torch.device("cuda")) is torch.float16


def test_devices_and_errors_name_the_value(monkeypatch):
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    assert device.resolve_device("auto") == "cpu" and device.pick_device().type == "cpu"
    monkeypatch.setattr(device, "cuda_available", lambda: True)
    assert device.resolve_device("auto") == "cuda"
    assert device.resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="'tpu'"):
        device.resolve_device("tpu")
    with pytest.raises(ValueError, match="'float8'"):
        device.pick_dtype("float8", "cpu")


def test_offline_reads_either_hub_switch(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert not device.offline()
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    assert device.offline()
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "yes")
    assert device.offline()
