"""The VLM captioner on tiny real-class models loaded through ``from_pretrained``: BLIP
(captioning head) and LLaVA (chat template); batched, one caption per photo, in order."""

from __future__ import annotations

import pytest
import torch

from ingest.captioning import Captioner, Generated
from ingest.models.fingerprint import ModelNotFound
from ingest.models.vlm import fit_longest_side
from ingest.models.vlm_captioner import DEFAULT_INSTRUCTION, VlmCaptioner, clean_caption


def spy_generate(captioner, monkeypatch) -> list[dict]:
    calls: list[dict] = []
    real = captioner.model.generate

    def recording(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(captioner.model, "generate", recording)
    return calls


@pytest.fixture(scope="module")
def blip(tiny_blip_dir):
    return VlmCaptioner.from_pretrained(tiny_blip_dir, device="cpu", dtype="float32", batch_size=2)


def test_blip_captions_real_photos_in_batches(blip, catalog_photos, monkeypatch):
    assert isinstance(blip, Captioner) and not blip.chat
    calls = spy_generate(blip, monkeypatch)
    out = blip.caption(catalog_photos, None)
    assert len(out) == 3 and all(isinstance(g, Generated) for g in out)
    assert all(g.caption and " " not in g.caption[:2] for g in out)
    assert [c["pixel_values"].shape[0] for c in calls] == [2, 1]  # batch_size 2: 2 + 1
    # each photo in its own row, in order
    rows = torch.cat([c["pixel_values"] for c in calls])
    for photo, row in zip(catalog_photos, rows, strict=True):
        expected = blip.processor(images=[fit_longest_side(photo, 768)], return_tensors="pt")
        assert torch.allclose(row, expected["pixel_values"][0])
    assert blip.caption(catalog_photos, None) == out  # deterministic


def test_the_name_is_the_directory_and_its_content_revision(blip, tiny_blip_dir, tmp_path):
    from tests.tiny_models import tiny_blip

    assert blip.name.startswith(f"{tiny_blip_dir.resolve()}@local-")
    again = VlmCaptioner.from_pretrained(tiny_blip_dir, device="cpu", dtype="float32")
    assert again.name == blip.name  # same model, same captioner: a rerun changes nothing
    other = tiny_blip(tmp_path / "blip", seed=1)
    retrained = VlmCaptioner.from_pretrained(other, device="cpu", dtype="float32")
    assert retrained.name.split("@")[1] != blip.name.split("@")[1]  # other weights


def test_a_chat_model_captions_through_its_chat_template(
    tiny_llava_dir, catalog_photos, monkeypatch
):
    captioner = VlmCaptioner.from_pretrained(
        tiny_llava_dir, device="cpu", dtype="float32", batch_size=3, max_new_tokens=6
    )
    assert captioner.chat
    calls = spy_generate(captioner, monkeypatch)
    out = captioner.caption(catalog_photos[:2], None)
    assert len(out) == 2 and all(g.caption for g in out)
    (kwargs,) = calls
    assert kwargs["pixel_values"].shape[0] == 2 and kwargs["max_new_tokens"] == 6
    # only the new tokens come back, never the instruction the model was given
    assert all(len(g.caption) <= 6 for g in out)
    prompt = captioner.tokenizer.decode(kwargs["input_ids"][0], skip_special_tokens=True)
    assert "描述图中商品" in prompt and "描述图中商品" in DEFAULT_INSTRUCTION  # (tiny vocabulary)
    assert captioner.tokenizer.padding_side == "left"  # batched prompts end where answers start


def test_loading_errors_name_the_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound, match="--caption-model"):
        VlmCaptioner.from_pretrained("no-such-org/no-such-captioner", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound, match="--caption-model"):
        VlmCaptioner.from_pretrained(tmp_path / "empty", device="cpu")


def test_bad_arguments_are_refused(blip):
    with pytest.raises(ValueError, match="batch_size"):
        VlmCaptioner(blip.model, blip.processor, name="x", batch_size=0)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("男 士 黑 色 衬 衫", "男士黑色衬衫"),
        ("Levis 男 士 T恤  \n 白色", "Levis男士T恤白色"),
        ("a red shirt", "a red shirt"),
        ("   ", None),
    ],
)
def test_clean_caption(raw, clean):
    assert clean_caption(raw) == clean
