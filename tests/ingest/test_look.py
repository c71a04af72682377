"""The look vector: a grey 16x16 thumbnail, centred and unit length."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.look import DIM, look_vector


def shape(kind: str, size: int = 64, color=(40, 40, 40)) -> np.ndarray:
    """A dark shape on white: a vertical bar, a horizontal bar or a disc."""
    img = np.full((size, size, 3), 255, dtype=np.uint8)
    c = size // 2
    if kind == "vbar":
        img[4:-4, c - 6 : c + 6] = color
    elif kind == "hbar":
        img[c - 6 : c + 6, 4:-4] = color
    else:
        yy, xx = np.mgrid[:size, :size]
        img[(yy - c) ** 2 + (xx - c) ** 2 < (size // 3) ** 2] = color
    return img


def cos(a, b) -> float:
    return float(np.dot(a, b))


def test_unit_float32_of_the_thumbnail_size():
    v = look_vector(shape("disc"))
    assert v.dtype == np.float32 and v.shape == (DIM,)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert abs(float(v.sum())) < 1e-3  # centred


def test_shape_decides_not_brightness_or_resolution():
    disc = look_vector(shape("disc"))
    assert cos(disc, look_vector(shape("disc", size=224))) > 0.99  # any model input size
    lighter = look_vector(shape("disc", color=(120, 120, 120)))  # same outline, lighter
    assert cos(disc, lighter) > 0.99
    assert cos(look_vector(shape("vbar")), look_vector(shape("hbar"))) < 0.3
    assert cos(disc, look_vector(shape("vbar"))) < cos(disc, look_vector(shape("disc", 96)))


def test_colour_with_the_same_grey_shape_looks_alike():
    red = look_vector(shape("vbar", color=(200, 20, 20)))
    blue = look_vector(shape("vbar", color=(20, 20, 200)))
    assert cos(red, blue) > 0.95  # colour is the CLIP vector's business


def test_flat_image_has_no_look_and_bad_shapes_are_refused():
    assert look_vector(np.full((32, 32, 3), 255, dtype=np.uint8)) is None
    with pytest.raises(ValueError, match="shape"):
        look_vector(np.zeros((32, 32), dtype=np.uint8))
