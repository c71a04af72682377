"""Encoders load through the production path (hub id or local dir) and emit unit float32 vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ingest.encoders import ClipEncoder, ModelNotFound, pick_dtype
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
    from ingest.architectures import build_chinese_clip, caption_vocab

    a = ClipEncoder.from_pretrained(tiny_clip_dir, dtype="float32").fingerprint
    assert a.dim == 16 and a.model == str(tiny_clip_dir.resolve())
    assert a == ClipEncoder.from_pretrained(tiny_clip_dir, dtype="float32").fingerprint
    other = tmp_path / "m"
    build_chinese_clip(other, caption_vocab(["男士黑色衬衫"]), "tiny", seed=1)
    assert ClipEncoder.from_pretrained(other, dtype="float32").fingerprint.revision != a.revision


def test_clip_family_model_with_centre_crop_loads_the_same_way(tmp_path):
    from transformers import BertTokenizerFast, CLIPConfig, CLIPImageProcessor, CLIPModel

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("男士黑色衬衫女红")
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    cfg = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=32,
        ),
        vision_config=dict(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=8,
    )
    CLIPModel(cfg).save_pretrained(tmp_path)
    CLIPImageProcessor(
        size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(tmp_path)
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


def test_dtype_choice(monkeypatch):
    import ingest.encoders as enc

    assert pick_dtype("float32", torch.device("cpu")) == torch.float32
    assert pick_dtype("auto", torch.device("cuda")) == torch.float16
    monkeypatch.setattr(enc, "cpu_has_bf16", lambda: True)
    assert enc.pick_dtype("auto", torch.device("cpu")) == torch.bfloat16
    monkeypatch.setattr(enc, "cpu_has_bf16", lambda: False)
    assert enc.pick_dtype("auto", torch.device("cpu")) == torch.float32


def test_bf16_vectors_stay_close_to_fp32(tiny_clip_dir, tiny_encoder):
    bf = ClipEncoder.from_pretrained(tiny_clip_dir, dtype="bfloat16")
    imgs = [photo((200, 30, 30), seed=1), photo((20, 30, 200), seed=2)]
    cos = np.sum(bf.encode_images(imgs) * tiny_encoder.encode_images(imgs), axis=1)
    assert np.all(cos > 0.98)


def test_fingerprint_without_loading_matches_the_loaded_model(tiny_clip_dir, tiny_encoder):
    from ingest.encoders import LazyClipEncoder, fingerprint_of

    assert fingerprint_of(tiny_clip_dir) == tiny_encoder.fingerprint
    lazy = LazyClipEncoder(tiny_clip_dir, dtype="float32")
    assert not lazy.loaded and lazy.fingerprint == tiny_encoder.fingerprint
    assert lazy.encode_texts(["男士"]).shape == (1, 16) and lazy.loaded


def test_int8_text_tower_stays_in_the_float_space(tiny_clip_dir):
    from ingest.encoders import ClipEncoder

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
    from ingest.encoders import ClipEncoder

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
