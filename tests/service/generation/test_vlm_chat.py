"""The transformers vision-language backend on tiny real-class models (LLaVA; Qwen2-VL where
torchvision is installed), loaded through the production path: it streams an answer about a
photo, the photo reaches the model, and the settings select it."""

from __future__ import annotations

import pytest

from ingest.models.vlm import fit_longest_side
from ingest.settings import Settings
from service.generation import GeneratorUnavailable, RecoveringGenerator, generate, generator_from
from service.generation.vision import hf_messages
from service.generation.vlm_chat import (
    CPU_DEFAULT_VLM,
    GPU_DEFAULT_VLM,
    VlmGenerator,
    default_vlm_id,
)
from tests.service.generation.conftest import MESSAGES


@pytest.fixture(scope="module")
def vlm(tiny_llava_dir):
    return VlmGenerator.from_pretrained(tiny_llava_dir, device="cpu", dtype="float32")


def spy_generate(gen, monkeypatch) -> list[dict]:
    """Records the keyword arguments of every ``model.generate`` call."""
    calls: list[dict] = []
    real = gen.model.generate

    def recording(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(gen.model, "generate", recording)
    return calls


def greedy(gen, image, max_new_tokens: int) -> str:
    """The reference: the processor and ``generate`` called directly, decoded at the end."""
    import torch

    text = gen.processor.apply_chat_template(
        hf_messages(MESSAGES, True), add_generation_prompt=True, tokenize=False
    )
    inputs = gen.processor(text=[text], images=[image], return_tensors="pt")
    with torch.inference_mode():
        out = gen.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return gen.processor.tokenizer.decode(
        out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True
    )


def test_streams_an_answer_about_a_real_photo(vlm, tiny_llava_dir, catalog_photos, monkeypatch):
    photo = catalog_photos[0]
    expected = greedy(vlm, fit_longest_side(photo, vlm.image_side), 16)
    calls = spy_generate(vlm, monkeypatch)
    pieces = list(vlm.stream(MESSAGES, max_new_tokens=16, image=photo))
    assert len(pieces) >= 2 and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == expected
    assert vlm.vision is True and vlm.name == f"transformers-vision:{tiny_llava_dir}"

    (kwargs,) = calls
    assert tuple(kwargs["pixel_values"].shape) == (1, 3, 32, 32)  # the photo went in
    image_token = vlm.model.config.image_token_id
    assert int((kwargs["input_ids"] == image_token).sum()) == 16  # as image tokens


def test_the_photo_and_the_text_alone_give_different_inputs(vlm, catalog_photos, monkeypatch):
    calls = spy_generate(vlm, monkeypatch)
    generate(vlm, MESSAGES, max_new_tokens=4)  # no photo: text only
    generate(vlm, MESSAGES, max_new_tokens=4, image=catalog_photos[1])
    assert "pixel_values" not in calls[0]
    assert int((calls[0]["input_ids"] == vlm.model.config.image_token_id).sum()) == 0
    assert "pixel_values" in calls[1]


def test_settings_select_the_vision_backend(tiny_llava_dir, catalog_photos):
    settings = Settings(
        llm="transformers",
        llm_model=str(tiny_llava_dir),
        llm_vision=True,
        device="cpu",
        dtype="float32",
    )
    gen = generator_from(settings)
    assert isinstance(gen, RecoveringGenerator) and gen.vision is True
    assert isinstance(gen.backend, VlmGenerator)
    assert isinstance(generate(gen, MESSAGES, max_new_tokens=4, image=catalog_photos[0]), str)
    assert gen.name == f"transformers-vision:{tiny_llava_dir}"


def test_auto_dtype_follows_the_one_device_policy(tiny_llava_dir, catalog_photos, monkeypatch):
    import torch

    import ingest.models.device as device

    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    gen = VlmGenerator.from_pretrained(tiny_llava_dir, device="cpu", dtype="auto")
    assert gen.model.dtype is torch.bfloat16
    assert gen.inputs(MESSAGES, catalog_photos[0])["pixel_values"].dtype is torch.bfloat16
    assert generate(gen, MESSAGES, max_new_tokens=3, image=catalog_photos[0]) is not None
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    gen = VlmGenerator.from_pretrained(tiny_llava_dir, device="cpu", dtype="auto")
    assert gen.model.dtype is torch.float32


def test_loading_errors_name_the_setting(tmp_path, monkeypatch, tiny_llava_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(GeneratorUnavailable, match="TUWEN_LLM_MODEL") as info:
        VlmGenerator.from_pretrained("no-such-org/no-such-vlm", device="cpu")
    assert "HF_HUB_OFFLINE" in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeneratorUnavailable, match="cannot load vision-language model"):
        VlmGenerator.from_pretrained(tmp_path / "empty", device="cpu")
    with pytest.raises(ValueError, match="40-hex commit"):
        VlmGenerator.from_pretrained(tiny_llava_dir, device="cpu", trust_remote_code=True)


def test_default_model_per_device():
    assert default_vlm_id("cpu") == CPU_DEFAULT_VLM == "Qwen/Qwen2-VL-2B-Instruct"
    assert default_vlm_id("cuda") == GPU_DEFAULT_VLM == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_a_tiny_qwen2_vl_streams_an_answer_about_a_real_photo(catalog_photos, monkeypatch):
    from tests.tiny_models import tiny_qwen2_vl_parts

    model, processor = tiny_qwen2_vl_parts()
    gen = VlmGenerator(model, processor, name="tiny-qwen2-vl", image_side=64)
    calls = spy_generate(gen, monkeypatch)
    pieces = list(gen.stream(MESSAGES, max_new_tokens=12, image=catalog_photos[0]))
    assert len(pieces) >= 2 and all(pieces)
    (kwargs,) = calls
    grid = kwargs["image_grid_thw"]  # the photo's patch grid, (1, rows, columns)
    assert tuple(grid.shape) == (1, 3) and int(grid[0, 0]) == 1
    tokens = int(grid.prod()) // 4  # 2×2 patches merge into one image token
    assert tokens >= 1 and int((kwargs["input_ids"] == model.config.image_token_id).sum()) == tokens
    assert kwargs["pixel_values"].shape[0] == int(grid.prod())


def test_a_processor_that_needs_torchvision_is_named_in_the_error(tmp_path, monkeypatch):
    """Qwen2-VL-family processors import torchvision; without a build that matches torch, the
    load fails with a message naming the model and torchvision, not an ImportError traceback."""
    import transformers

    def needs_torchvision(*args, **kwargs):
        raise ImportError("Qwen2VLVideoProcessor requires the Torchvision library")

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", needs_torchvision)
    with pytest.raises(GeneratorUnavailable, match="torchvision") as caught:
        VlmGenerator.from_pretrained(tmp_path, device="cpu", dtype="float32")
    assert str(tmp_path) in str(caught.value)
