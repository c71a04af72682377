"""Decoding photos no larger than a model needs, and what a decode costs in memory.

A model sees a few hundred pixels a side; a 6300×6300 photo decoded whole and converted to
RGB takes 160 MB (Pillow keeps RGB in four bytes a pixel). Three steps keep that down:

- JPEG: :meth:`PIL.Image.Image.draft` decodes at 1/2, 1/4 or 1/8 scale in the DCT domain.
- Everything else is decoded in its own mode (a 1-bit or palette image takes one byte a
  pixel) and box-reduced by an integer factor; modes that Pillow cannot reduce (1-bit,
  palette, 16-bit) are converted and reduced a strip at a time, never whole.
- The reduced size keeps at least :func:`keep_side` pixels on the shortest side, so a photo up
  to that size is decoded exactly as before, and a larger one still has several times the
  pixels the model uses.

This module imports only Pillow: :mod:`ingest.images` builds its decoder on it.
"""

from __future__ import annotations

import math

from PIL import Image

#: The smallest shortest side a reduced photo keeps, whatever the model.
MIN_KEEP_SIDE = 1024
#: Bytes a pixel takes in Pillow's memory, by mode (four for every mode not listed).
BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
#: Modes reduced a strip at a time, and the mode each strip is converted to first.
_STRIP_MODES = {"1": "L", "P": "RGB", "PA": "RGBA", "I;16": "I", "I;16B": "I", "I;16L": "I"}
_STRIP_MODES["I;16N"] = "I"
#: About how many bytes one converted strip takes.
_STRIP_BYTES = 8 * 1024 * 1024


def keep_side(model_side: int | tuple[int, ...] | object) -> int:
    """The shortest side to keep when decoding for a model whose input is ``model_side``.

    Args:
        model_side: The model's input side in pixels, an ``(h, w)`` size, or an object with an
            ``output_size`` (:class:`ingest.images.Preprocess`).

    Returns:
        Four times the model's largest input side, at least :data:`MIN_KEEP_SIDE`.
    """
    size = getattr(model_side, "output_size", model_side)
    side = max(size) if isinstance(size, tuple) else int(size)  # type: ignore[arg-type]
    return max(MIN_KEEP_SIDE, 4 * side)


def jpeg_scale(size: tuple[int, int], min_side: int | None) -> int:
    """The DCT scale (1, 2, 4 or 8) that :meth:`~PIL.Image.Image.draft` picks for a JPEG."""
    if not min_side:
        return 1
    room = min(size[0] // min_side, size[1] // min_side)
    return next((s for s in (8, 4, 2) if s <= room), 1)


def reduction(size: tuple[int, int], min_side: int | None) -> int:
    """The integer box-reduction factor that keeps the shortest side at least ``min_side``."""
    if not min_side:
        return 1
    return max(1, min(size) // min_side)


def reduce_image(img: Image.Image, factor: int) -> Image.Image:
    """Box-reduce a loaded image by ``factor`` (1 returns it unchanged).

    Modes Pillow cannot reduce, or must not average (palette indices), are converted and
    reduced a strip at a time: the result equals a whole-image conversion then reduction,
    without the whole converted image ever being in memory.
    """
    if factor <= 1:
        return img
    target = _STRIP_MODES.get(img.mode)
    if img.mode == "P" and "transparency" in img.info:
        target = "RGBA"
    elif img.mode == "L" and "transparency" in img.info:
        target = "LA"
    if target is None:
        return img.reduce(factor)
    w, h = img.size
    rows = max(factor, (_STRIP_BYTES // max(1, w * 4)) // factor * factor)
    out = Image.new(target, (-(-w // factor), -(-h // factor)))
    for top in range(0, h, rows):
        strip = img.crop((0, top, w, min(h, top + rows))).convert(target)
        out.paste(strip.reduce(factor), (0, top // factor))
    out.info = {k: v for k, v in img.info.items() if k != "transparency"}
    return out


def decode_cost(img: Image.Image, min_side: int | None = None) -> int:
    """About how many bytes decoding an opened image takes at its peak.

    Counts the decoded frame in its own mode (after a JPEG draft), the reduced copy or the
    full-size RGB conversion, and the strips of a strip-wise reduction.

    Args:
        img: An opened, not yet loaded, image.
        min_side: The shortest side to keep (``None``: decoded at full size).
    """
    w, h = img.size
    if img.format in ("JPEG", "MPO"):
        s = jpeg_scale((w, h), min_side)
        w, h = -(-w // s), -(-h // s)
    strips = img.mode in _STRIP_MODES or "transparency" in img.info
    return _cost(w, h, BYTES_PER_PIXEL.get(img.mode, 4), strips, min_side)


def reference_cost(max_pixels: int, min_side: int | None = None) -> int:
    """What :func:`decode_cost` gives a square RGB PNG of ``max_pixels`` pixels: the most a
    photo within a pixel limit should take."""
    side = max(1, math.isqrt(max_pixels))
    return _cost(side, side, 4, True, min_side)


def _cost(w: int, h: int, bpp: int, strips: bool, min_side: int | None) -> int:
    native = w * h * bpp
    factor = reduction((w, h), min_side)
    if factor <= 1:
        return native + w * h * 4  # the RGB conversion next to the decoded frame
    small = -(-w // factor) * -(-h // factor) * 4
    return native + 2 * small + (2 * _STRIP_BYTES if strips else 0)
