"""Safe image decoding: formats, modes to RGB, EXIF orientation, bad files, bombs, preprocessing."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingest.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    Preprocess,
    decode_for_model,
    is_image_name,
    load_image,
    to_rgb,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def px(img: Image.Image, xy=(0, 0)) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)[xy[1], xy[0]]


def assert_rgb(img: Image.Image, size: tuple[int, int]) -> None:
    assert img.mode == "RGB"
    assert img.size == size


def close(a, b, tol: int = 3) -> bool:
    return bool(
        np.all(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)) <= tol)
    )


def gradient(size=(64, 40)) -> Image.Image:
    """Photo-like, non-square, asymmetric: a gradient with a red top-left corner."""
    w, h = size
    x = np.linspace(0, 255, w)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h)[:, None].repeat(w, 1)
    arr = np.stack([x, y, 255 - x], axis=-1).astype(np.uint8)
    arr[: h // 4, : w // 4] = RED
    return Image.fromarray(arr, "RGB")


def png_bytes(width: int, height: int, rows, bit_depth: int = 1, colour: int = 0) -> bytes:
    """A PNG written by hand, its IDAT streamed through zlib (no full image in memory)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for row in rows) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def zero_rows(width: int, height: int, bit_depth: int = 1):
    row = bytes(1 + (width * bit_depth + 7) // 8)  # filter byte 0 + packed pixels
    for _ in range(height):
        yield row


# --- formats --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "suffix", "kw", "tol"),
    [
        ("JPEG", ".jpg", {"quality": 95}, 4),
        ("PNG", ".png", {}, 0),
        ("WEBP", ".webp", {"lossless": True}, 0),
        ("BMP", ".bmp", {}, 0),
        ("GIF", ".gif", {}, 0),
    ],
)
def test_allowed_formats_decode_to_rgb(tmp_path, fmt, suffix, kw, tol):
    img = Image.new("RGB", (30, 20), (200, 30, 60) if fmt != "GIF" else RED)
    img.paste(Image.new("RGB", (10, 10), BLUE), (20, 10))
    path = write(tmp_path / f"photo{suffix}", encode(img, fmt, **kw))
    assert Image.open(path).format == fmt

    out = load_image(path)

    assert_rgb(out, (30, 20))
    assert close(px(out, (2, 2)), img.getpixel((2, 2)), tol)
    assert close(px(out, (25, 15)), BLUE, tol + 4)
    # the same bytes decode the same way from memory
    assert np.array_equal(np.asarray(load_image(path.read_bytes())), np.asarray(out))


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 12), RED), Image.new("RGB", (16, 12), BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    path = write(tmp_path / "anim.gif", data)
    assert Image.open(path).n_frames == 2

    out = load_image(path)

    assert_rgb(out, (16, 12))
    assert close(px(out, (8, 6)), RED, 0)


def test_multi_picture_jpeg_is_a_jpeg(tmp_path):
    # Phone cameras write MPO (several JPEGs in one file); Pillow reports format "MPO".
    first, second = Image.new("RGB", (24, 16), RED), Image.new("RGB", (24, 16), BLUE)
    path = write(
        tmp_path / "phone.jpg", encode(first, "MPO", save_all=True, append_images=[second])
    )
    assert Image.open(path).format == "MPO"
    out = load_image(path)
    assert_rgb(out, (24, 16))
    assert close(px(out, (12, 8)), RED, 4)


# --- modes ----------------------------------------------------------------------------------


def test_palette_with_transparency_is_white_where_transparent(tmp_path):
    img = Image.new("P", (8, 6), 0)
    img.putpalette([0, 255, 0] + list(RED) + [0] * (256 * 3 - 6))
    img.paste(1, (0, 0, 4, 6))  # left half red, right half transparent green
    for fmt, suffix in (("PNG", ".png"), ("GIF", ".gif")):
        path = write(tmp_path / f"p{suffix}", encode(img, fmt, transparency=0))
        src = Image.open(path)
        assert src.mode == "P" and "transparency" in src.info

        out = load_image(path)

        assert_rgb(out, (8, 6))
        assert close(px(out, (1, 3)), RED, 0), fmt
        assert close(px(out, (6, 3)), WHITE, 0), fmt  # not the palette's green, not black


def test_la_is_composited_on_white(tmp_path):
    img = Image.new("LA", (4, 2), (0, 255))
    img.putpixel((3, 1), (0, 0))  # fully transparent black
    path = write(tmp_path / "la.png", encode(img, "PNG"))
    assert Image.open(path).mode == "LA"
    out = load_image(path)
    assert_rgb(out, (4, 2))
    assert close(px(out, (0, 0)), (0, 0, 0), 0)
    assert close(px(out, (3, 1)), WHITE, 0)


@pytest.mark.parametrize(("fmt", "kw"), [("PNG", {}), ("WEBP", {"lossless": True, "exact": True})])
def test_rgba_alpha_composited_on_white(tmp_path, fmt, kw):
    img = Image.new("RGBA", (3, 1))
    img.putdata([(255, 0, 0, 128), (0, 0, 255, 255), (0, 255, 0, 0)])
    path = write(tmp_path / f"rgba.{fmt.lower()}", encode(img, fmt, **kw))
    assert Image.open(path).mode == "RGBA"

    out = load_image(path)

    assert_rgb(out, (3, 1))
    assert close(px(out, (0, 0)), (255, 128, 128), 2)  # half-transparent red over white
    assert close(px(out, (1, 0)), BLUE, 0)
    assert close(px(out, (2, 0)), WHITE, 0)


def test_cmyk_jpeg(tmp_path):
    img = Image.new("CMYK", (16, 8), (0, 255, 255, 0))  # red
    img.paste((255, 255, 0, 0), (8, 0, 16, 8))  # blue
    path = write(tmp_path / "cmyk.jpg", encode(img, "JPEG", quality=95))
    assert Image.open(path).mode == "CMYK"
    out = load_image(path)
    assert_rgb(out, (16, 8))
    assert close(px(out, (2, 4)), RED, 8)
    assert close(px(out, (13, 4)), BLUE, 8)


def test_sixteen_bit_grey_png_keeps_its_levels(tmp_path):
    arr = np.zeros((2, 4), dtype=np.uint16)
    arr[0] = [10 * 257, 128 * 257, 200 * 257, 30000]  # not the full range: no stretching
    arr[1] = 100 * 257
    path = write(tmp_path / "g16.png", encode(Image.fromarray(arr), "PNG"))
    assert Image.open(path).mode.startswith("I;16")

    out = load_image(path)

    assert_rgb(out, (4, 2))
    got = np.asarray(out)
    assert got[0, :, 0].tolist() == [10, 128, 200, round(30000 / 257)]
    assert (got[..., 0] == got[..., 1]).all() and (got[..., 1] == got[..., 2]).all()


def test_uniform_sixteen_bit_image_is_not_black(tmp_path):
    for level, expected in ((65535, 255), (32896, 128)):
        arr = np.full((3, 5), level, dtype=np.uint16)
        out = load_image(encode(Image.fromarray(arr), "PNG"))
        assert close(px(out, (2, 1)), (expected,) * 3, 0)


def test_grey_and_bilevel(tmp_path):
    grey = Image.new("L", (5, 3), 77)
    out = load_image(write(tmp_path / "l.png", encode(grey, "PNG")))
    assert_rgb(out, (5, 3))
    assert close(px(out, (4, 2)), (77, 77, 77), 0)

    bits = Image.new("1", (4, 4), 0)
    bits.putpixel((1, 2), 1)
    src = write(tmp_path / "one.png", encode(bits, "PNG"))
    assert Image.open(src).mode == "1"
    out = load_image(src)
    assert_rgb(out, (4, 4))
    assert close(px(out, (1, 2)), WHITE, 0)
    assert close(px(out, (0, 0)), (0, 0, 0), 0)


def test_to_rgb_other_modes():
    rgb = Image.new("RGB", (2, 2), RED)
    assert to_rgb(rgb) is rgb
    i32 = Image.fromarray(np.array([[0, 65535]], dtype=np.int32), "I")
    assert np.asarray(to_rgb(i32))[0, :, 0].tolist() == [0, 255]
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F")
    assert np.asarray(to_rgb(f))[0, :, 0].tolist() == [0, 128, 255]
    pa = Image.new("PA", (1, 1), (0, 0))
    assert close(px(to_rgb(pa)), WHITE, 0)
    ycc = Image.new("RGB", (2, 2), BLUE).convert("YCbCr")
    assert close(px(to_rgb(ycc)), BLUE, 3)


# --- EXIF orientation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "stored_as"),
    [
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_90),  # stored 90° counter-clockwise, display rotates back
        (8, Image.Transpose.ROTATE_270),
        (2, Image.Transpose.FLIP_LEFT_RIGHT),
    ],
)
def test_exif_orientation_is_applied(tmp_path, orientation, stored_as):
    upright = gradient((64, 40))
    stored = upright.transpose(stored_as)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = write(tmp_path / "o.jpg", encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert Image.open(path).getexif()[0x0112] == orientation
    if stored.size == upright.size:  # ignoring the tag would be visibly wrong
        diff = np.abs(np.asarray(stored, dtype=np.int16) - np.asarray(upright, dtype=np.int16))
        assert diff.mean() > 20
    else:
        assert stored.size == upright.size[::-1]

    out = load_image(path)

    assert_rgb(out, upright.size)
    diff = np.abs(np.asarray(out, dtype=np.int16) - np.asarray(upright, dtype=np.int16))
    assert diff.mean() < 4
    assert close(px(out, (2, 2)), RED, 12)  # the red corner is back at the top left


# --- bad files ------------------------------------------------------------------------------


def good_jpeg() -> bytes:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    return encode(Image.fromarray(noise), "JPEG", quality=95)


BAD_FILES = {
    "zero-byte.jpg": (lambda: b"", "empty"),
    "random.jpg": (
        lambda: np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "not an image",
    ),
    "truncated.jpg": (lambda: good_jpeg()[: len(good_jpeg()) // 2], "truncated"),
    "truncated.png": (
        lambda: (lambda d: d[: len(d) // 2])(encode(gradient((64, 64)), "PNG")),
        "truncated",
    ),
    "tiff.jpg": (lambda: encode(Image.new("RGB", (32, 32), RED), "TIFF"), "TIFF"),
    "ico.jpg": (lambda: encode(Image.new("RGB", (32, 32), RED), "ICO"), "ICO"),
    "text.png": (lambda: "这不是图片, just text\n".encode() * 20, "not an image"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_raise_image_error_with_reason(tmp_path, name):
    make, reason = BAD_FILES[name]
    path = write(tmp_path / name, make())

    with pytest.raises(ImageError) as exc:
        load_image(path)

    assert reason in str(exc.value)
    if name in ("tiff.jpg", "ico.jpg"):
        assert "not one of the allowed formats" in str(exc.value)
    # the worker entry point returns the same reason instead of raising
    result = decode_for_model(str(path), Preprocess((8, 8), None, (0, 0, 0), (1, 1, 1)), 10**8)
    assert isinstance(result, str) and reason in result


def test_image_error_is_a_value_error():
    assert issubclass(ImageError, ValueError)


def test_missing_file_reason_from_decode_for_model(tmp_path):
    result = decode_for_model(
        str(tmp_path / "gone.jpg"), Preprocess(4, None, (0,) * 3, (1,) * 3), 100
    )
    assert isinstance(result, str) and "cannot read file" in result


def test_is_image_name():
    assert is_image_name("a/B.JPG") and is_image_name("x.webp") and is_image_name(Path("y.jpe"))
    assert (
        not is_image_name("x.tiff") and not is_image_name("x.png.txt") and not is_image_name("png")
    )


# --- decompression bombs --------------------------------------------------------------------


def test_hand_written_png_helper_makes_valid_pngs():
    data = png_bytes(37, 5, zero_rows(37, 5))
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.size == (37, 5) and img.mode == "1"


def test_small_png_over_max_pixels_is_rejected(tmp_path):
    path = write(tmp_path / "p.png", encode(gradient((64, 40)), "PNG"))
    with pytest.raises(ImageError, match="decompression bomb") as exc:
        load_image(path, max_pixels=1000)
    assert "64x40" in str(exc.value)
    assert load_image(path, max_pixels=64 * 40).size == (64, 40)  # the limit is inclusive


def test_header_claiming_huge_size_rejected_quickly(tmp_path):
    # a real 8-row PNG whose header says 30000x30000: rejected before any pixel is decoded
    data = png_bytes(30000, 30000, zero_rows(30000, 8))
    path = write(tmp_path / "bomb.png", data)
    t0 = time.perf_counter()
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(path)
    assert time.perf_counter() - t0 < 1.0
    result = decode_for_model(
        str(path), Preprocess(8, None, (0,) * 3, (1,) * 3), DEFAULT_MAX_PIXELS
    )
    assert isinstance(result, str) and "decompression bomb" in result


def test_real_huge_bilevel_png_rejected_quickly(tmp_path):
    # a complete, valid 20000x20000 1-bit PNG (400 Mpx) that is tiny on disk
    path = write(tmp_path / "huge.png", png_bytes(20000, 20000, zero_rows(20000, 20000)))
    assert path.stat().st_size < 1_000_000
    assert struct.unpack(">II", path.read_bytes()[16:24]) == (20000, 20000)
    t0 = time.perf_counter()
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(path)
    assert time.perf_counter() - t0 < 1.0


def test_between_pillow_limit_and_twice_it_uses_callers_limit(tmp_path):
    # 10000x10000 = 100 Mpx: above Pillow's warning level (~89 Mpx), below its hard error.
    side = 10000
    assert DEFAULT_MAX_PIXELS < side * side < 2 * DEFAULT_MAX_PIXELS
    data = png_bytes(side, side, zero_rows(side, side))
    path = write(tmp_path / "big.png", data[: len(data) // 2])  # cut off: cheap to reject
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(path)  # default limit
    # a caller that allows it gets past the size check (the data is truncated, so it fails there)
    with pytest.raises(ImageError) as exc:
        load_image(path, max_pixels=side * side)
    assert "decompression bomb" not in str(exc.value)
    assert "truncated" in str(exc.value)


# --- preprocessing --------------------------------------------------------------------------

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def test_resize_to_height_width():
    pre = Preprocess((20, 30), None, MEAN, STD)
    assert pre.output_size == (20, 30)
    arr = pre.to_array(Image.new("RGB", (64, 40), (10, 20, 30)))
    assert arr.shape == (20, 30, 3) and arr.dtype == np.uint8
    assert (arr == (10, 20, 30)).all()


def test_shortest_edge_then_centre_crop():
    # 80x40 red image with a green band in the middle columns
    img = Image.new("RGB", (80, 40), RED)
    img.paste((0, 255, 0), (36, 0, 44, 40))
    pre = Preprocess(32, (24, 24), MEAN, STD)
    assert pre.output_size == (24, 24)

    arr = pre.to_array(img)  # resized to 64x32, then the centre 24x24

    assert arr.shape == (24, 24, 3)
    assert close(arr[12, 12], (0, 255, 0), 10)  # the band stays in the middle
    assert close(arr[12, 0], RED, 10) and close(arr[12, 23], RED, 10)


def test_shortest_edge_without_crop_is_square_and_centred():
    img = Image.new("RGB", (40, 120), RED)  # tall
    img.paste(BLUE, (0, 55, 40, 65))  # band across the middle
    pre = Preprocess(20, None, MEAN, STD)
    arr = pre.to_array(img)  # 20x60, centre 20x20
    assert arr.shape == (20, 20, 3)
    assert close(arr[10, 10], BLUE, 10)
    assert close(arr[0, 10], RED, 10) and close(arr[19, 10], RED, 10)


def test_crop_larger_than_image_pads_with_white():
    pre = Preprocess((10, 10), (20, 20), MEAN, STD)
    arr = pre.to_array(Image.new("RGB", (50, 50), RED))
    assert arr.shape == (20, 20, 3)
    assert (arr[5:15, 5:15] == RED).all()
    assert (arr[0, 0] == WHITE).all() and (arr[19, 19] == WHITE).all()


def test_normalise_shape_dtype_and_value():
    pre = Preprocess((4, 6), None, MEAN, STD)
    a = pre.to_array(Image.new("RGB", (6, 4), (255, 0, 128)))
    b = pre.to_array(Image.new("RGB", (6, 4), (0, 0, 0)))
    x = pre.normalise(np.stack([a, b]))
    assert x.shape == (2, 3, 4, 6) and x.dtype == np.float32
    assert x.flags["C_CONTIGUOUS"]
    expected = [(v / 255 - m) / s for v, m, s in zip((255, 0, 128), MEAN, STD, strict=True)]
    np.testing.assert_allclose(x[0, :, 2, 3], expected, rtol=1e-5)
    np.testing.assert_allclose(
        x[1, :, 0, 0], [-m / s for m, s in zip(MEAN, STD, strict=True)], rtol=1e-5
    )


def test_decode_for_model_good_file(tmp_path):
    path = write(tmp_path / "g.png", encode(gradient((64, 40)), "PNG"))
    pre = Preprocess(32, (32, 32), MEAN, STD)
    arr = decode_for_model(str(path), pre, DEFAULT_MAX_PIXELS)
    assert isinstance(arr, np.ndarray)
    assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8
    assert isinstance(decode_for_model(str(path), pre, 100), str)  # its own limit applies
