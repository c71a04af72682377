"""Reproducible training: its settings, and the same weights whether or not the machine's
CPU has AVX-512 (emulated by presetting the AVX2 code paths, as an AVX2-only machine runs)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.training.config import FinetuneConfig, FinetuneError, check_config, resolve_defaults
from ingest.training.reproducible import PINNED_ENV, THREADS
from tests.conftest import make_catalog

ROOT = Path(__file__).resolve().parents[3]


def _config(**kw) -> FinetuneConfig:
    return FinetuneConfig(images=Path("i"), captions=Path("c.csv"), out=Path("o"), **kw)


def test_a_reproducible_run_is_float32_on_the_cpu_with_fixed_threads():
    c = resolve_defaults(_config(from_scratch=True, reproducible=True))
    assert (c.precision, c.device, c.threads) == ("fp32", "cpu", THREADS)
    check_config(c)
    assert resolve_defaults(_config(from_scratch=True, reproducible=True, threads=4)).threads == 4
    plain = resolve_defaults(_config(from_scratch=True))
    assert (plain.precision, plain.device, plain.threads) == ("auto", "auto", None)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"precision": "bf16"}, "--precision bf16"),
        ({"device": "cuda"}, "--device cuda"),
        ({"threads": 0}, "--threads must be at least 1"),
    ],
)
def test_a_reproducible_run_refuses_what_would_make_it_machine_dependent(kw, message):
    c = resolve_defaults(_config(from_scratch=True, reproducible=True, **kw))
    with pytest.raises(FinetuneError, match=message):
        check_config(c)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PINNED_ENV}
    return {**env, **extra}


def _has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def _train(images: Path, captions: Path, out: Path, env: dict[str, str]) -> dict:
    argv = [sys.executable, "-m", "service.cli", "finetune", "--images", str(images)]
    argv += ["--captions", str(captions), "--out", str(out), "--from-scratch", "--size", "tiny"]
    argv += ["--epochs", "2", "--batch-size", "8", "--pixel-epochs", "1", "--reproducible", "-q"]
    subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True, timeout=300)
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.glob("*.safetensors"))
    }


def test_the_same_weights_with_or_without_avx512(tmp_path):
    if not _has_avx2():
        pytest.skip("this CPU has no AVX2, the code path reproducible runs are pinned to")
    images, captions = make_catalog(tmp_path / "cat", n=40)
    native = _train(images, captions, tmp_path / "native", _clean_env())
    avx2_only = _train(images, captions, tmp_path / "avx2", _clean_env(**PINNED_ENV))
    assert set(native) == {"model.safetensors", "vqa_heads.safetensors"}
    assert native == avx2_only
    settings = json.loads((tmp_path / "native" / "training.json").read_text())["settings"]
    assert settings["cpu_kernels"] == "AVX2" and settings["threads"] == [THREADS]
    assert settings["reproducible"] is True and settings["precision"] == "fp32"


def test_heads_only_reproducible_pins_the_kernels_and_fixes_the_threads(
    tiny_clip_dir, tmp_path, monkeypatch
):
    import ingest.training.reproducible as reproducible
    import ingest.vqa.train as vqa_train
    from service.cli import main

    calls: dict = {}
    monkeypatch.setattr(reproducible, "pin_cpu_kernels", lambda: calls.setdefault("pinned", 1))
    monkeypatch.setattr(vqa_train, "summary", lambda report: "answer heads")

    class Trained:
        report: dict = {}

    def train_heads(model_dir, images, captions, *, config, device, progress):
        calls.update(threads=config.pixel_net.threads, device=device)
        return Trained()

    monkeypatch.setattr(vqa_train, "train_heads", train_heads)
    argv = ["finetune", "--heads-only", "--out", str(tiny_clip_dir), "--images", "i"]
    assert main([*argv, "--captions", "c.csv", "--reproducible", "-q"]) == 0
    assert calls == {"pinned": 1, "threads": THREADS, "device": "cpu"}
    calls.clear()
    assert main([*argv, "--captions", "c.csv", "-q"]) == 0
    assert calls == {"threads": 0, "device": "auto"}  # every core, the device setting
    calls.clear()
    assert main([*argv, "--captions", "c.csv", "--reproducible", "--device", "cuda", "-q"]) == 1
    assert main([*argv, "--captions", "c.csv", "--reproducible", "--threads", "0", "-q"]) == 1
    assert calls == {}  # refused before any training
