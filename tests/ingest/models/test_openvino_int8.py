"""OpenVINO int8 image tower: calibrated on catalog photos, close to float, cached per model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ingest.models import openvino_int8
from ingest.models.clip import ClipEncoder
from ingest.models.roles import load_encoders
from tests.conftest import make_catalog

pytestmark = pytest.mark.skipif(
    not openvino_int8.available(), reason="OpenVINO is an extra: pip install -e '.[openvino]'"
)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list:
    images, _ = make_catalog(tmp_path_factory.mktemp("calibration"), n=24)
    return sorted(images.rglob("*.jpg"))


@pytest.fixture(scope="module")
def float_encoder(tiny_clip_dir):
    return ClipEncoder.from_pretrained(tiny_clip_dir, dtype="float32")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1)


def test_openvino_image_tower_stays_in_the_float_space(
    tiny_clip_dir, float_encoder, photos, tmp_path
):
    enc = load_encoders(
        tiny_clip_dir,
        dtype="float32",
        int8_runtime="openvino",
        cache_dir=tmp_path,
        calibration=photos,
    )
    # the image tower in OpenVINO for both roles; the query's text tower in ONNX Runtime
    assert enc.document.runtime == {"text": "torch-float32", "vision": "openvino-int8"}
    assert enc.query.runtime == {"text": "onnx-int8", "vision": "openvino-int8"}
    from ingest.images import load_image

    imgs = [load_image(p) for p in photos]
    a, b = float_encoder.encode_images(imgs), enc.document.encode_images(imgs)
    assert b.shape == a.shape and b.dtype == np.float32
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert cosines(a, b).min() > 0.99
    # a photo alone gets its vector from the batch
    assert np.allclose(enc.document.encode_images(imgs[:1]), b[:1], atol=1e-3)
    assert enc.document.encode_pixels(np.zeros((0, 4, 4, 3), np.uint8)).shape == (0, b.shape[1])
    # the entry records the photos that calibrated it
    (entry,) = (p for p in (tmp_path / "openvino").iterdir() if p.name != "compiled")
    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    assert sorted(meta["calibration_photos"]) == sorted(str(p) for p in photos)


def test_the_tower_is_cached_per_model_and_needs_no_photos_then(
    tiny_clip_dir, photos, tmp_path, monkeypatch
):
    first = ClipEncoder.from_pretrained(
        tiny_clip_dir,
        int8=("vision",),
        int8_runtime="openvino",
        cache_dir=tmp_path,
        calibration=photos,
    )
    entries = [p for p in (tmp_path / "openvino").iterdir() if p.name != "compiled"]
    assert len(entries) == 1 and (entries[0] / openvino_int8.MODEL_FILE).is_file()
    assert not [p for p in entries if p.name.startswith(".tmp-")]

    def no_build(*a, **k):
        raise AssertionError("quantised again although cached")

    monkeypatch.setattr(openvino_int8, "_build", no_build)
    # the service, with no catalog at hand, reuses what the ingest calibrated
    again = ClipEncoder.from_pretrained(tiny_clip_dir, int8=("vision",), cache_dir=tmp_path)
    assert again.runtime["vision"] == "openvino-int8"
    px = np.random.default_rng(0).integers(0, 255, (3, *first.preprocess.output_size, 3), np.uint8)
    assert np.array_equal(again.encode_pixels(px), first.encode_pixels(px))


def test_without_a_cached_tower_or_photos_the_image_tower_runs_in_onnx(tiny_clip_dir, tmp_path):
    auto = ClipEncoder.from_pretrained(tiny_clip_dir, int8=("vision",), cache_dir=tmp_path)
    assert auto.runtime["vision"] == "onnx-int8"
    asked = ClipEncoder.from_pretrained(
        tiny_clip_dir, int8=("vision",), int8_runtime="openvino", cache_dir=tmp_path
    )
    assert asked.runtime["vision"] == "onnx-int8"
    assert not (tmp_path / "openvino").exists() or not [
        p for p in (tmp_path / "openvino").iterdir() if p.name != "compiled"
    ]


def test_an_unreadable_cache_entry_is_built_again(tiny_clip_dir, float_encoder, photos, tmp_path):
    kw = dict(int8=("vision",), int8_runtime="openvino", cache_dir=tmp_path, calibration=photos)
    ClipEncoder.from_pretrained(tiny_clip_dir, **kw)
    (entry,) = (p for p in (tmp_path / "openvino").iterdir() if p.name != "compiled")
    (entry / openvino_int8.MODEL_FILE).write_text("not a model")
    enc = ClipEncoder.from_pretrained(tiny_clip_dir, dtype="float32", **kw)
    assert enc.runtime["vision"] == "openvino-int8"
    px = np.random.default_rng(1).integers(0, 255, (4, *enc.preprocess.output_size, 3), np.uint8)
    assert cosines(float_encoder.encode_pixels(px), enc.encode_pixels(px)).min() > 0.99


def test_calibration_sample_is_spread_and_deterministic(tmp_path):
    names = [tmp_path / f"{i:04d}.jpg" for i in range(1000)]
    sample = openvino_int8.calibration_sample(reversed(names), n=10)
    assert sample == [names[i] for i in range(0, 1000, 100)]
    assert openvino_int8.calibration_sample(names[:5], n=10) == names[:5]
