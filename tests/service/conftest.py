"""Fixtures for the answering side: a tiny GLM chat model and a small candidate catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.hits import Hit


@pytest.fixture(scope="session")
def tiny_glm_dir(tmp_path_factory) -> Path:
    """A 2-layer GlmForCausalLM and a char-level tokenizer with a chat template, saved."""
    from tests.tiny_models import tiny_glm

    return tiny_glm(tmp_path_factory.mktemp("tiny-glm"))


@pytest.fixture()
def hits() -> list[Hit]:
    """Four retrieved products; the two best agree on a black men's Levis brief."""
    return [
        Hit("1", "101.jpg", "Levis 男士黑色休闲三角内裤", 0.91),
        Hit("2", "102.jpg", "Levis三角内裤 男士款 黑色 休闲风格", 0.88),
        Hit("3", "103.jpg", "女士连衣裙 Vero Moda 红色 派对", 0.52),
        Hit("4", "sub/104.jpg", "Puma 女士红色运动T恤", 0.40),
    ]
