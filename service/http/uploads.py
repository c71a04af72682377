"""Uploaded photos: safe names, format, size and memory checks, decoding within the budget,
and the media type of a photo's bytes."""

from __future__ import annotations

from PIL import Image
from starlette.concurrency import run_in_threadpool

from ingest.downscale import decode_cost, reference_cost
from ingest.images import (
    IMAGE_EXTENSIONS,
    ImageError,
    is_image_name,
    load_downscaled,
    open_image,
)
from service.http.memory import DecodeBudget
from service.http.text import BadName, check_name

_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


class UploadRejected(ValueError):
    """An upload that cannot be accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def safe_name(name: str | None, field: str = "image") -> str:
    """A product name checked by :func:`service.http.text.check_name`, or 400 naming the rule.

    Args:
        name: The file name a client sent.
        field: The request field it came in, named in the error.

    Returns:
        The name, unchanged.
    """
    try:
        return check_name(name)
    except BadName as e:
        raise UploadRejected(400, f"{field}: {e}") from None


def media_type(head: bytes) -> str:
    """The media type of a photo from its first bytes (its name's extension is not trusted)."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _rejection(name: str, reason: str) -> UploadRejected:
    if "decompression bomb" in reason:
        return UploadRejected(413, f"{name}: {reason}")
    if "not an image" in reason or "allowed formats" in reason:
        return UploadRejected(415, f"{name}: {reason}")
    return UploadRejected(422, f"{name}: {reason}")


def probe_photo(name: str, data: bytes, max_pixels: int, min_side: int) -> tuple[Image.Image, int]:
    """Check an upload's name and header, without decoding its pixels.

    Args:
        name: The photo's file name (its extension must be an image one).
        data: The file's bytes.
        max_pixels: More pixels are refused.
        min_side: The shortest side the decode keeps (what the models need).

    Returns:
        The opened image and the bytes its decode will take.

    Raises:
        UploadRejected: 415 for a name or format that is not an allowed image; 413 for more
            than ``max_pixels`` pixels or a decode that would take more memory than an RGB
            photo at that limit (:func:`ingest.downscale.reference_cost`); 422 for a damaged
            header.
    """
    if not is_image_name(name):
        raise UploadRejected(415, f"{name}: not an image file name ({', '.join(IMAGE_EXTENSIONS)})")
    try:
        img = open_image(data, max_pixels=max_pixels)
    except ImageError as e:
        raise _rejection(name, str(e)) from None
    cost = decode_cost(img, min_side)
    limit = reference_cost(max_pixels, min_side)
    if cost > limit:
        raise UploadRejected(
            413,
            f"{name}: decompression bomb rejected: decoding this {img.mode} {img.format} of "
            f"{img.width}x{img.height} would take {cost // 2**20} MiB, over the "
            f"{limit // 2**20} MiB an RGB photo at TUWEN_MAX_UPLOAD_PIXELS takes",
        )
    return img, cost


def check_photo(name: str, data: bytes, max_pixels: int, min_side: int = 1024) -> Image.Image:
    """Check and decode an upload (reduced to ``min_side``) in this thread.

    Returns:
        The upright RGB photo.

    Raises:
        UploadRejected: As :func:`probe_photo`, and 422 for damaged pixel data.
    """
    img, _ = probe_photo(name, data, max_pixels, min_side)
    try:
        return load_downscaled(img, max_pixels, min_side)
    except ImageError as e:
        raise _rejection(name, str(e)) from None


async def decode_photo(
    budget: DecodeBudget, name: str, data: bytes, max_pixels: int, min_side: int
) -> Image.Image:
    """:func:`check_photo` in a worker thread, holding the decode's cost of ``budget``."""
    img, cost = await run_in_threadpool(probe_photo, name, data, max_pixels, min_side)
    async with budget.reserve(cost):
        try:
            return await run_in_threadpool(load_downscaled, img, max_pixels, min_side)
        except ImageError as e:
            raise _rejection(name, str(e)) from None
