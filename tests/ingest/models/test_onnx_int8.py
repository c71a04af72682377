"""ONNX Runtime int8 towers: close to float, cached per model, rebuilt when unreadable."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.models import onnx_int8
from ingest.models.clip import ClipEncoder

TEXTS = ["男士黑色衬衫", "女士红色连衣裙 Vero Moda 夏季新款", "ASICS 运动鞋", "表"]


def pixels(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, *size, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def float_encoder(tiny_clip_dir):
    return ClipEncoder.from_pretrained(tiny_clip_dir, dtype="float32")


def test_onnx_towers_stay_in_the_float_space(tiny_clip_dir, float_encoder, tmp_path):
    q8 = ClipEncoder.from_pretrained(
        tiny_clip_dir, dtype="float32", int8=("text", "vision"), cache_dir=tmp_path
    )
    assert q8.runtime == {"text": "onnx-int8", "vision": "onnx-int8"}
    # a padded batch of different lengths: the exported masks must match the float model's
    a, b = float_encoder.encode_texts(TEXTS), q8.encode_texts(TEXTS)
    assert b.shape == a.shape and b.dtype == np.float32
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(1).min() > 0.98
    # each text alone gives its vector from the batch (padding does not leak in)
    alone = np.concatenate([q8.encode_texts([t]) for t in TEXTS])
    assert np.allclose(alone, b, atol=2e-2)
    px = pixels(5, q8.preprocess.output_size)
    assert (float_encoder.encode_pixels(px) * q8.encode_pixels(px)).sum(1).min() > 0.98
    assert q8.encode_texts([]).shape == (0, q8.dim)
    assert q8.encode_pixels(px[:0]).shape == (0, q8.dim)


def test_only_the_named_tower_moves_to_onnx(tiny_clip_dir, float_encoder, tmp_path):
    q8 = ClipEncoder.from_pretrained(
        tiny_clip_dir, dtype="float32", int8=("text",), cache_dir=tmp_path
    )
    assert q8.runtime == {"text": "onnx-int8", "vision": "torch-float32"}
    px = pixels(2, q8.preprocess.output_size)
    assert np.allclose(q8.encode_pixels(px), float_encoder.encode_pixels(px), atol=1e-6)


def test_the_export_is_cached_per_model(tiny_clip_dir, tmp_path, monkeypatch):
    first = ClipEncoder.from_pretrained(tiny_clip_dir, int8=("text",), cache_dir=tmp_path)
    entries = list((tmp_path / "onnx").iterdir())
    assert len(entries) == 1 and (entries[0] / "model-int8.onnx").is_file()
    assert not [p for p in (tmp_path / "onnx").iterdir() if p.name.startswith(".tmp-")]

    def no_export(*a, **k):
        raise AssertionError("exported again although cached")

    monkeypatch.setattr(onnx_int8, "_export", no_export)
    again = ClipEncoder.from_pretrained(tiny_clip_dir, int8=("text",), cache_dir=tmp_path)
    assert np.array_equal(again.encode_texts(TEXTS), first.encode_texts(TEXTS))
    # another tower is another entry, exported on its first use
    with pytest.raises(AssertionError, match="exported again"):
        ClipEncoder.from_pretrained(tiny_clip_dir, int8=("vision",), cache_dir=tmp_path)


def test_a_different_model_gets_its_own_entry(tiny_clip_dir):
    fp = ClipEncoder.from_pretrained(tiny_clip_dir, dtype="float32").fingerprint.to_dict()
    other = {**fp, "revision": "local-0000"}
    assert onnx_int8.cache_key(fp, "text") != onnx_int8.cache_key(other, "text")
    assert onnx_int8.cache_key(fp, "text") != onnx_int8.cache_key(fp, "vision")


def test_an_unreadable_cache_entry_is_exported_again(tiny_clip_dir, float_encoder, tmp_path):
    ClipEncoder.from_pretrained(tiny_clip_dir, int8=("text",), cache_dir=tmp_path)
    (entry,) = (tmp_path / "onnx").iterdir()
    (entry / "model-int8.onnx").write_bytes(b"not an onnx file")
    q8 = ClipEncoder.from_pretrained(
        tiny_clip_dir, dtype="float32", int8=("text",), cache_dir=tmp_path
    )
    a, b = float_encoder.encode_texts(TEXTS), q8.encode_texts(TEXTS)
    assert (a * b).sum(1).min() > 0.98
    assert (entry / "model-int8.onnx").stat().st_size > 1000


def test_runtime_choice(tiny_clip_dir, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="int8_runtime"):
        ClipEncoder.from_pretrained(tiny_clip_dir, int8=("text",), int8_runtime="tensorrt")
    with pytest.raises(ValueError, match="unknown tower"):
        ClipEncoder.from_pretrained(tiny_clip_dir, int8=("audio",), cache_dir=tmp_path)
    monkeypatch.setattr(onnx_int8, "available", lambda: False)
    # auto falls back to torch's dynamic int8 when ONNX Runtime is missing...
    enc = ClipEncoder.from_pretrained(tiny_clip_dir, int8=("text",), cache_dir=tmp_path)
    assert enc.runtime["text"] == "torch-int8"
    # ...asking for onnx says how to get it
    with pytest.raises(ValueError, match="pip install onnxruntime"):
        ClipEncoder.from_pretrained(
            tiny_clip_dir, int8=("text",), int8_runtime="onnx", cache_dir=tmp_path
        )


def test_an_unwritable_cache_dir_exports_for_the_run_and_says_so(
    tiny_clip_dir, float_encoder, tmp_path, caplog
):
    not_a_dir = tmp_path / "cache-is-a-file"
    not_a_dir.write_text("x")
    q8 = ClipEncoder.from_pretrained(
        tiny_clip_dir, dtype="float32", int8=("text",), cache_dir=not_a_dir
    )
    assert q8.runtime["text"] == "onnx-int8"
    assert (float_encoder.encode_texts(TEXTS) * q8.encode_texts(TEXTS)).sum(1).min() > 0.98
    assert "cannot write the int8 tower cache" in caplog.text and "TUWEN_CACHE_DIR" in caplog.text
    assert not_a_dir.read_text() == "x"  # nothing clobbered
