"""CLIP encoders load through the production path (hub id or local dir) and emit unit float32
vectors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ingest.models.clip import ClipEncoder
from ingest.models.fingerprint import ModelNotFound
from tests.conftest import photo


def test_vectors_are_unit_float32_and_batch_independent(tiny_encoder):
    imgs = [
        photo((200, 30, 30), seed=1),
        photo((20, 30, 200), seed=2),
        photo((20, 200, 30), seed=3),
    ]
    v = tiny_encoder.encode_images(imgs)
    assert v.dtype == np.float32 and v.shape == (3, tiny_encoder.dim)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    one = tiny_encoder.encode_images(imgs[1:2])
    assert np.allclose(one[0], v[1], atol=1e-5)
    t = tiny_encoder.encode_texts(["男士黑色衬衫", "女士红色连衣裙 Vero Moda"])
    assert t.dtype == np.float32 and np.allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    assert tiny_encoder.encode_texts([]).shape == (0, tiny_encoder.dim)


def test_fingerprint_names_the_directory_and_changes_with_the_weights(tiny_clip_dir, tmp_path):
    from tests.tiny_models import tiny_chinese_clip

    a = ClipEncoder.from_pretrained(tiny_clip_dir, dtype="float32").fingerprint
    assert a.dim == 16 and a.model == str(tiny_clip_dir.resolve())
    assert a == ClipEncoder.from_pretrained(tiny_clip_dir, dtype="float32").fingerprint
    other = tmp_path / "m"
    tiny_chinese_clip(other, ["男士黑色衬衫"], seed=1)
    assert ClipEncoder.from_pretrained(other, dtype="float32").fingerprint.revision != a.revision


def test_clip_family_model_with_centre_crop_loads_the_same_way(tmp_path):
    from tests.tiny_models import tiny_clip

    tiny_clip(tmp_path)
    enc = ClipEncoder.from_pretrained(tmp_path, dtype="float32")
    assert enc.preprocess.output_size == (32, 32)
    assert enc.encode_images([Image.new("RGB", (90, 50), "red")]).shape == (1, 8)
    assert enc.encode_texts(["男士黑色衬衫"]).shape == (1, 8)


def test_offline_missing_model_says_how_to_use_a_local_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelNotFound) as e:
        ClipEncoder.from_pretrained("OFA-Sys/chinese-clip-vit-base-patch16")
    msg = str(e.value)
    assert "TUWEN_CLIP_MODEL" in msg and "HF_HUB_OFFLINE" in msg and "local" in msg


def test_incomplete_local_directory_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotFound, match="not a complete CLIP model directory"):
        ClipEncoder.from_pretrained(tmp_path)


def test_bf16_vectors_stay_close_to_fp32(tiny_clip_dir, tiny_encoder):
    bf = ClipEncoder.from_pretrained(tiny_clip_dir, dtype="bfloat16")
    imgs = [photo((200, 30, 30), seed=1), photo((20, 30, 200), seed=2)]
    cos = np.sum(bf.encode_images(imgs) * tiny_encoder.encode_images(imgs), axis=1)
    assert np.all(cos > 0.98)


def test_fingerprint_without_loading_matches_the_loaded_model(tiny_clip_dir, tiny_encoder):
    from ingest.models.fingerprint import fingerprint_of
    from ingest.models.lazy import LazyClipEncoder

    assert fingerprint_of(tiny_clip_dir) == tiny_encoder.fingerprint
    lazy = LazyClipEncoder(tiny_clip_dir, dtype="float32")
    assert not lazy.loaded and lazy.fingerprint == tiny_encoder.fingerprint
    assert lazy.encode_texts(["男士"]).shape == (1, 16) and lazy.loaded


def test_int8_text_tower_stays_in_the_float_space(tiny_clip_dir):
    from ingest.models.clip import ClipEncoder

    texts = ["男士黑色衬衫", "女士红色连衣裙 Vero Moda", "ASICS 运动鞋"]
    ref = ClipEncoder.from_pretrained(tiny_clip_dir, dtype="float32")
    q8 = ClipEncoder.from_pretrained(
        tiny_clip_dir, dtype="float32", int8=("text",), int8_runtime="torch"
    )
    a, b = ref.encode_texts(texts), q8.encode_texts(texts)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(1).min() > 0.98
    assert type(q8.model.text_projection).__module__.startswith("torch.ao.nn.quantized")
    px = np.full((1, *q8.preprocess.output_size, 3), 128, dtype=np.uint8)
    assert np.allclose(q8.encode_pixels(px), ref.encode_pixels(px), atol=1e-6)  # image as is


def test_int8_image_tower_stays_in_the_float_space(tiny_clip_dir):
    from ingest.models.clip import ClipEncoder

    ref = ClipEncoder.from_pretrained(tiny_clip_dir, dtype="float32")
    q8 = ClipEncoder.from_pretrained(
        tiny_clip_dir, dtype="float32", int8=("vision",), int8_runtime="torch"
    )
    rng = np.random.default_rng(0)
    px = rng.integers(0, 255, (4, *q8.preprocess.output_size, 3), dtype=np.uint8)
    assert (ref.encode_pixels(px) * q8.encode_pixels(px)).sum(1).min() > 0.98
    assert type(q8.model.visual_projection).__module__.startswith("torch.ao.nn.quantized")
    texts = ["男士黑色衬衫"]
    assert np.allclose(q8.encode_texts(texts), ref.encode_texts(texts), atol=1e-6)
