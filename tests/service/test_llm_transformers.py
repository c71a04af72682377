from __future__ import annotations

import pytest

from service.llm import (
    CPU_DEFAULT_MODEL,
    GPU_DEFAULT_MODEL,
    AnswerContext,
    FallbackGenerator,
    GeneratorUnavailable,
    TransformersGenerator,
    default_model_id,
    generate,
    make_generator,
)
from service.router import Route

MESSAGES = [
    {"role": "system", "content": "只用中文回答。"},
    {"role": "user", "content": "图中商品是什么颜色？"},
]


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


def test_closing_the_stream_early_stops_generation(tiny_generator):
    stream = tiny_generator.stream(MESSAGES, max_new_tokens=200)
    first = next(stream)
    stream.close()
    assert first


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


def test_missing_model_falls_back_to_extractive(tmp_path, hits):
    gen = make_generator(
        "transformers", model=str(tmp_path / "absent"), device="cpu", local_files_only=True
    )
    assert isinstance(gen, FallbackGenerator) and gen.fell_back
    assert gen.name.startswith("extractive (fallback: ")
    assert "TUWEN_LLM_MODEL" in gen.name
    answer = generate(gen, MESSAGES, context=AnswerContext(Route("attribute", "gender"), hits))
    assert answer == "这是男士款。[101.jpg][102.jpg]"


def test_broken_model_directory_without_fallback_raises(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeneratorUnavailable, match="cannot load LLM"):
        make_generator(
            "transformers",
            model=str(tmp_path / "empty"),
            device="cpu",
            local_files_only=True,
            fallback=False,
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


def test_auto_dtype_on_cpu_is_bf16_only_where_the_cpu_has_it(monkeypatch):
    import torch

    import ingest.encoders as encoders
    from service.llm import _resolve_dtype

    monkeypatch.setattr(encoders, "cpu_has_bf16", lambda: True)
    assert _resolve_dtype("auto", "cpu") is torch.bfloat16
    monkeypatch.setattr(encoders, "cpu_has_bf16", lambda: False)
    assert _resolve_dtype("auto", "cpu") is torch.float32
    assert _resolve_dtype("float32", "cpu") is torch.float32
