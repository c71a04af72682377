"""Decoding large photos reduced: the same picture as a full decode, in every mode, and the
memory estimate that the service's decode budget counts."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ingest.downscale import decode_cost, keep_side, reference_cost
from ingest.images import load_downscaled, load_image, open_image


@pytest.mark.parametrize("mode", ["1", "P", "L", "RGBA", "I;16"])
def test_a_large_photo_decodes_reduced_in_every_mode(mode):
    img = Image.new(mode, (2600, 2100))
    img.paste(Image.new(mode, (1300, 2100), 1 if mode in ("1", "P") else 200), (0, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    small = load_downscaled(buf.getvalue(), min_side=1024)
    assert small.mode == "RGB" and small.size == (1300, 1050)
    full = load_image(buf.getvalue()).resize(small.size, Image.Resampling.BOX)
    diff = [
        abs(a - b)
        for a, b in zip(small.getdata(), full.getdata(), strict=True)
        for a, b in zip(a, b, strict=True)
    ]
    assert max(diff) <= 2  # the same picture as a full decode, box-reduced


def test_a_jpeg_is_drafted_and_keeps_its_orientation():
    img = Image.new("RGB", (4000, 2400), (255, 255, 255))
    img.paste(Image.new("RGB", (400, 2400), (255, 0, 0)), (0, 0))  # red on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    small = load_downscaled(buf.getvalue(), min_side=1024)
    assert small.size == (1200, 2000)  # drafted at 1/2, then turned upright
    assert small.getpixel((600, 20))[0] > 200 and small.getpixel((600, 20))[1] < 60  # red on top
    assert load_image(buf.getvalue()).size == (2400, 4000)


def test_small_photos_decode_exactly_as_before():
    img = Image.new("RGB", (900, 700), (12, 200, 99))
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    assert (
        load_downscaled(buf.getvalue(), min_side=1024).tobytes()
        == load_image(buf.getvalue()).tobytes()
    )


def test_the_cost_of_a_1_bit_photo_counts_its_own_mode():
    img = Image.new("1", (6300, 6300))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    opened = open_image(buf.getvalue(), max_pixels=40_000_000)
    reduced, full = decode_cost(opened, 1024), decode_cost(opened)
    assert reduced < 80 * 2**20 < full  # one byte a pixel, never the 4-byte RGB at full size
    assert reduced < reference_cost(40_000_000, 1024)
    assert keep_side((224, 224)) == 1024 and keep_side(384) == 1536
