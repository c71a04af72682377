"""The generator the settings name: None for extractive, a recovering backend otherwise."""

from __future__ import annotations

import pytest

from ingest.settings import LLM_BACKENDS, Settings
from service.generation import (
    BACKENDS,
    GeneratorUnavailable,
    RecoveringGenerator,
    generate,
    generator_from,
    load_backend,
    resolve_backend,
)
from service.generation.openai_chat import OpenAIGenerator
from tests.service.generation.conftest import MESSAGES, PIECES


def test_one_list_of_backend_names():
    assert BACKENDS == LLM_BACKENDS == ("auto", "transformers", "openai", "extractive")
    with pytest.raises(ValueError, match="unknown LLM backend 'gpt'"):
        resolve_backend(Settings(), "gpt")


def test_auto_resolution_and_the_override():
    assert resolve_backend(Settings(_env_file=None)) == "extractive"
    assert resolve_backend(Settings(llm_model="glm")) == "transformers"
    url = "http://127.0.0.1:9/v1"
    assert resolve_backend(Settings(llm_base_url=url, llm_model="glm")) == "openai"
    assert (
        resolve_backend(Settings(llm_base_url=url, llm_model="glm"), "extractive") == "extractive"
    )
    assert resolve_backend(Settings(llm="extractive", llm_model="glm"), "auto") == "transformers"


def test_extractive_is_no_generator():
    assert generator_from(Settings()) is None
    assert generator_from(Settings(llm_model="glm"), "extractive") is None
    assert load_backend(Settings()) is None


def test_openai_needs_a_url_and_a_model():
    with pytest.raises(ValueError, match="TUWEN_LLM_BASE_URL"):
        generator_from(Settings(llm_model="glm"), "openai")
    with pytest.raises(ValueError, match="http:// or https://"):
        generator_from(Settings(llm="openai", llm_base_url="localhost:8000", llm_model="m"))


def test_openai_backend_recovers_with_the_configured_back_off(fake_openai):
    settings = Settings(
        llm_base_url=f"{fake_openai.url}/v1", llm_model="m", llm_retry_s=7, llm_retry_max_s=70
    )
    gen = generator_from(settings)
    assert isinstance(gen, RecoveringGenerator)
    assert gen.name == f"openai:m@{fake_openai.url}/v1"
    assert (gen.retry_s, gen.retry_max_s) == (7, 70)
    assert generate(gen, MESSAGES) == "".join(PIECES)
    fake_openai.mode = "broken"
    with pytest.raises(GeneratorUnavailable, match="HTTP 500"):
        generate(gen, MESSAGES)
    assert gen.status()["state"] == "backoff" and 0 < gen.status()["retry_in_s"] <= 7
    assert isinstance(load_backend(settings), OpenAIGenerator)


def test_a_missing_local_model_does_not_stop_the_start(tmp_path):
    settings = Settings(llm="transformers", llm_model=str(tmp_path / "absent"), device="cpu")
    gen = generator_from(settings)
    status = gen.status()
    assert status["state"] == "backoff" and not status["loaded"]
    assert gen.name == f"transformers:{tmp_path / 'absent'}"
    assert "TUWEN_LLM_MODEL" in status["last_error"]
    with pytest.raises(GeneratorUnavailable, match="TUWEN_LLM_MODEL"):
        generate(gen, MESSAGES)
    with pytest.raises(GeneratorUnavailable, match="TUWEN_LLM_MODEL"):
        load_backend(settings)


def test_a_local_model_loads_with_the_settings_device_and_dtype(tiny_glm_dir):
    import torch

    gen = generator_from(Settings(llm_model=str(tiny_glm_dir), device="cpu", dtype="float32"))
    assert gen.status()["state"] == "ok" and gen.name == f"transformers:{tiny_glm_dir}"
    assert gen.backend.model.dtype is torch.float32
    assert generate(gen, MESSAGES, max_new_tokens=4)
