"""The local transformers backend on a tiny GLM: streaming, stopping, loading errors."""

from __future__ import annotations

import threading

import pytest

from service.generation import GeneratorUnavailable, generate
from service.generation.transformers_chat import (
    CPU_DEFAULT_MODEL,
    GPU_DEFAULT_MODEL,
    TransformersGenerator,
    default_model_id,
)
from tests.service.generation.conftest import MESSAGES


@pytest.fixture(scope="module")
def tiny_generator(tiny_glm_dir):
    return TransformersGenerator.from_pretrained(tiny_glm_dir, device="cpu", dtype="float32")


def test_streaming_matches_greedy_generation(tiny_generator, tiny_glm_dir):
    import torch

    pieces = list(tiny_generator.stream(MESSAGES, max_new_tokens=24))
    assert len(pieces) >= 3
    assert all(isinstance(p, str) and p for p in pieces)

    tokenizer, model = tiny_generator.tokenizer, tiny_generator.model
    inputs = tokenizer.apply_chat_template(
        MESSAGES, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        out = model.generate(
            **inputs, max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    expected = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "".join(pieces) == expected
    assert generate(tiny_generator, MESSAGES, max_new_tokens=24) == expected
    assert tiny_generator.name == f"transformers:{tiny_glm_dir}"


def test_closing_the_stream_early_stops_generation(tiny_generator, monkeypatch):
    # No early end of sequence: a run that is not stopped produces exactly max_new_tokens.
    gen = TransformersGenerator(
        tiny_generator.model,
        tiny_generator.tokenizer,
        generation_kwargs={"suppress_tokens": [tiny_generator.tokenizer.eos_token_id]},
    )
    produced: list[int] = []
    real_generate = gen.model.generate

    def counting_generate(**kwargs):
        out = real_generate(**kwargs)
        produced.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    monkeypatch.setattr(gen.model, "generate", counting_generate)
    assert len("".join(gen.stream(MESSAGES, max_new_tokens=40))) > 0
    assert produced == [40]  # the control: unstopped, generation runs to the limit

    produced.clear()
    stream = gen.stream(MESSAGES, max_new_tokens=400)
    assert next(stream)
    stream.close()
    # close() returned: the generating thread has ended, after far fewer than 400 tokens
    assert not [t for t in threading.enumerate() if t.name == "tuwen-generate"]
    assert len(produced) == 1 and produced[0] < 200


def test_a_generation_error_is_unavailable_and_names_the_backend(tiny_generator, monkeypatch):
    gen = TransformersGenerator(tiny_generator.model, tiny_generator.tokenizer, name="tiny")

    def broken_generate(**kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(gen.model, "generate", broken_generate)
    with pytest.raises(GeneratorUnavailable, match="generation with tiny failed: CUDA out of"):
        list(gen.stream(MESSAGES))


def test_remote_code_needs_a_pinned_commit(tiny_glm_dir):
    for revision in (None, "main", "v1.0", "abc123"):
        with pytest.raises(ValueError, match="40-hex commit"):
            TransformersGenerator.from_pretrained(
                tiny_glm_dir, device="cpu", trust_remote_code=True, revision=revision
            )


def test_offline_missing_model_says_to_set_tuwen_llm_model(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(GeneratorUnavailable, match="TUWEN_LLM_MODEL") as info:
        TransformersGenerator.from_pretrained("no-such-org/no-such-model", device="cpu")
    assert "HF_HUB_OFFLINE" in str(info.value)


def test_broken_model_directory_is_unavailable(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeneratorUnavailable, match="cannot load LLM"):
        TransformersGenerator.from_pretrained(
            tmp_path / "empty", device="cpu", local_files_only=True
        )


def test_tokenizer_without_chat_template_is_unavailable(tiny_generator):
    class Plain:
        chat_template = None

    with pytest.raises(GeneratorUnavailable, match="no chat template"):
        TransformersGenerator(tiny_generator.model, Plain())


def test_default_model_per_device():
    assert default_model_id("cpu") == CPU_DEFAULT_MODEL == "THUDM/glm-edge-1.5b-chat"
    assert default_model_id("cuda") == GPU_DEFAULT_MODEL == "THUDM/glm-4-9b-chat-hf"
    with pytest.raises(ValueError, match="device must be"):
        default_model_id("tpu")


def test_auto_dtype_follows_the_one_device_policy(tiny_glm_dir, monkeypatch):
    import torch

    import ingest.models.device as device

    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    gen = TransformersGenerator.from_pretrained(tiny_glm_dir, device="cpu", dtype="auto")
    assert gen.model.dtype is torch.bfloat16
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    gen = TransformersGenerator.from_pretrained(tiny_glm_dir, device="cpu", dtype="auto")
    assert gen.model.dtype is torch.float32
    with pytest.raises(ValueError, match="dtype must be"):
        TransformersGenerator.from_pretrained(tiny_glm_dir, device="cpu", dtype="int4")
