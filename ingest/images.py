"""Safe image decoding: allow-listed formats, bomb limit, EXIF orientation, every mode to RGB.

This module imports only Pillow and NumPy so that decode workers start fast.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ingest.downscale import jpeg_scale, keep_side, reduce_image, reduction

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "GIF"})
#: The file name extensions of catalog photos (lower case, no dot): the one list that
#: catalogs, uploads and answer citations use.
IMAGE_EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "jpe", "png", "webp", "bmp", "gif")
IMAGE_SUFFIXES = frozenset(f".{e}" for e in IMAGE_EXTENSIONS)
#: Pillow's own default decompression-bomb limit (about 89 megapixels).
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485

_ORIENTATION = 0x0112  # the EXIF orientation tag
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Never let Pillow pad a truncated file with grey: a truncated file is an error.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageError(ValueError):
    """A file that cannot be used as a product photo; ``str(err)`` is the reason."""


def is_image_name(path: str | Path) -> bool:
    """Whether a file name has one of the allow-listed image suffixes."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def load_image(source: str | Path | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode a photo into an upright RGB image, or raise :class:`ImageError` with the reason.

    Args:
        source: A file path or the file's bytes.
        max_pixels: Images with more pixels are rejected before their pixels are decoded.

    Returns:
        An RGB image with EXIF orientation applied and any alpha composited on white.
    """
    img = open_image(source, max_pixels)
    load_pixels(img)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block is not worth losing the photo
        pass
    return to_rgb(img)


def load_downscaled(
    source: str | Path | bytes | Image.Image,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int | None = None,
) -> Image.Image:
    """:func:`load_image`, but a photo whose shortest side is well over ``min_side`` is decoded
    reduced (JPEG draft, then an integer box reduction; see :mod:`ingest.downscale`).

    Args:
        source: A file path, the file's bytes, or an image :func:`open_image` opened.
        max_pixels: Images with more pixels are rejected before their pixels are decoded.
        min_side: The shortest side to keep; ``None`` decodes at full size.

    Returns:
        An upright RGB image whose shortest side is at least ``min_side`` (or the photo's own).
    """
    img = source if isinstance(source, Image.Image) else open_image(source, max_pixels)
    try:
        orientation = img.getexif().get(_ORIENTATION)
    except Exception:  # noqa: BLE001 - a broken EXIF block is not worth losing the photo
        orientation = None
    if min_side and img.format in ("JPEG", "MPO") and jpeg_scale(img.size, min_side) > 1:
        img.draft(img.mode, (min_side, min_side))
    load_pixels(img)
    img = reduce_image(img, reduction(img.size, min_side))
    if orientation in _TRANSPOSE:
        img = img.transpose(_TRANSPOSE[orientation])
    return to_rgb(img)


def open_image(source: str | Path | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open a photo and check its header: an allowed format, at most ``max_pixels`` pixels.

    No pixel is decoded yet (:func:`load_pixels` does that).

    Args:
        source: A file path or the file's bytes.
        max_pixels: Images with more pixels are rejected.

    Returns:
        The opened image (its first frame selected).

    Raises:
        ImageError: For an empty file, unrecognised content, a format outside
            :data:`ALLOWED_FORMATS` or a decompression bomb (the reason says which).
    """
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    if not data:
        raise ImageError("empty file (0 bytes)")
    with warnings.catch_warnings():
        # Pillow warns above its own limit and raises above twice it; the size check below
        # applies the caller's ``max_pixels`` instead of the warning.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageError("not an image (unrecognised content)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageError(f"decompression bomb rejected: {e}") from None
        except Exception as e:  # noqa: BLE001 - any parser failure is a bad file
            raise ImageError(f"corrupt or truncated image header: {e}") from None
    # Pillow opens a multi-picture JPEG (many phone photos) as "MPO": it is a JPEG.
    if (img.format if img.format != "MPO" else "JPEG") not in ALLOWED_FORMATS:
        raise ImageError(
            f"content is {img.format}, not one of the allowed formats "
            f"({', '.join(sorted(ALLOWED_FORMATS))})"
        )
    w, h = img.size
    if w * h > max_pixels:
        raise ImageError(f"decompression bomb rejected: {w}x{h} exceeds {max_pixels} pixels")
    return img


def load_pixels(img: Image.Image) -> None:
    """Decode an opened image's first frame, or raise :class:`ImageError` naming the damage."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            img.load()
        except Exception as e:  # noqa: BLE001
            raise ImageError(f"corrupt or truncated image data: {e}") from None


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparency is composited on white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if mode.startswith("I;16") or (mode == "I" and lo >= 0 and hi <= 65535):
            scaled = arr / 257.0  # 16-bit grey: 65535 -> 255, keeping the photo's levels
        elif mode == "F" and lo >= 0 and hi <= 1:
            scaled = arr * 255.0
        elif hi > lo:
            scaled = (arr - lo) / (hi - lo) * 255.0
        else:
            scaled = np.clip(arr, 0, 255)
        return Image.fromarray(np.clip(scaled.round(), 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    elif mode in ("LA", "La", "PA", "RGBa") or mode == "L" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB")


@dataclass(frozen=True)
class Preprocess:
    """How a CLIP model wants its pixels: resize, optional centre crop, normalisation.

    Built from the model's image processor config so that a local directory and a hub
    model are treated alike. The uint8 step runs in decode workers; normalisation runs
    next to the model.
    """

    resize: tuple[int, int] | int  # (height, width), or the shortest edge
    crop: tuple[int, int] | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: int = Image.Resampling.BICUBIC

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of the array :meth:`to_array` returns."""
        if self.crop is not None:
            return self.crop
        if isinstance(self.resize, int):
            return (self.resize, self.resize)
        return self.resize

    def to_array(self, img: Image.Image) -> np.ndarray:
        """Resize (and crop) an RGB image to a ``(H, W, 3)`` uint8 array."""
        if isinstance(self.resize, int):
            w, h = img.size
            scale = self.resize / min(w, h)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
        else:
            size = (self.resize[1], self.resize[0])
        if img.size != size:
            img = img.resize(size, resample=self.resample)
        # A shortest-edge resize without a crop still needs a square output: centre it.
        crop = self.crop
        if crop is None and isinstance(self.resize, int):
            crop = self.output_size
        if crop is not None:
            ch, cw = crop
            w, h = img.size
            left, top = (w - cw) // 2, (h - ch) // 2
            if left >= 0 and top >= 0:
                img = img.crop((left, top, left + cw, top + ch))
            else:  # a crop larger than the image: centre it on white, not black
                canvas = Image.new("RGB", (cw, ch), (255, 255, 255))
                canvas.paste(img, (-left, -top))
                img = canvas
        arr = np.asarray(img, dtype=np.uint8)
        oh, ow = self.output_size
        if arr.shape != (oh, ow, 3):  # safety net: pad with white to the promised size
            out = np.full((oh, ow, 3), 255, dtype=np.uint8)
            out[: min(oh, arr.shape[0]), : min(ow, arr.shape[1])] = arr[:oh, :ow]
            arr = out
        return arr

    def normalise(self, batch: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 → ``(N, 3, H, W)`` float32, scaled and normalised.

        A uint8 batch is mapped through a 256-entry table per channel, written straight into
        the channel-first output: the same float32 values as the arithmetic below, in one pass.
        """
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        if batch.dtype == np.uint8 and batch.ndim == 4 and batch.shape[3] == 3:
            table = np.arange(256, dtype=np.float32)[:, None] * np.float32(1.0 / 255.0) - mean
            table /= std
            out = np.empty((batch.shape[0], 3, *batch.shape[1:3]), dtype=np.float32)
            for c in range(3):
                np.take(table[:, c], batch[..., c], out=out[:, c])
            return out
        x = batch.astype(np.float32) * (1.0 / 255.0)
        x -= mean
        x /= std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def decode_for_model(path: str, preprocess: Preprocess, max_pixels: int) -> np.ndarray | str:
    """Worker entry point: a file → the model's uint8 array, or the reason it failed.

    Photos much larger than the model's input are decoded reduced
    (:func:`ingest.downscale.load_downscaled`); smaller ones exactly as :func:`load_image`.
    """
    try:
        img = load_downscaled(path, max_pixels, keep_side(preprocess))
        return preprocess.to_array(img)
    except ImageError as e:
        return str(e)
    except OSError as e:
        return f"cannot read file: {e}"
