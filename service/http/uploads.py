"""Uploaded photos: safe names, format and size checks, crash-safe saving."""

from __future__ import annotations

import os
import uuid
from pathlib import Path, PurePosixPath

from PIL import Image

from ingest.images import IMAGE_EXTENSIONS, ImageError, is_image_name, load_image


class UploadRejected(ValueError):
    """An upload that cannot be accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def safe_name(name: str | None, field: str = "image") -> str:
    """A relative ``/``-separated catalog name, or :class:`UploadRejected` (400).

    Refuses empty names, NUL bytes, absolute paths, backslashes, ``..`` and hidden parts.

    Args:
        name: The file name a client sent.
        field: The request field it came in, named in the error.

    Returns:
        The name in POSIX form.
    """
    if not name:
        raise UploadRejected(400, f"{field}: a file name is required")
    if "\x00" in name or "\\" in name:
        raise UploadRejected(400, f"{field}: {name!r} is not a valid file name")
    p = PurePosixPath(name)
    if p.is_absolute() or any(part in ("", ".", "..") or part.startswith(".") for part in p.parts):
        raise UploadRejected(400, f"{field}: {name!r} is not a relative catalog file name")
    if len(name) > 512:
        raise UploadRejected(400, f"{field}: file name longer than 512 characters")
    return p.as_posix()


def check_photo(name: str, data: bytes, max_pixels: int) -> Image.Image:
    """Decode an uploaded photo fully once; map what is wrong to an HTTP status.

    Args:
        name: The photo's file name (its extension must be an image one).
        data: The file's bytes.
        max_pixels: Larger photos are refused (413) before their pixels are decoded.

    Returns:
        The decoded RGB photo.

    Raises:
        UploadRejected: 415 for a name or format that is not an allowed image, 413 for a
            decompression bomb, 422 for a damaged file.
    """
    if not is_image_name(name):
        raise UploadRejected(415, f"{name}: not an image file name ({', '.join(IMAGE_EXTENSIONS)})")
    try:
        return load_image(data, max_pixels=max_pixels)
    except ImageError as e:
        reason = str(e)
        if "decompression bomb" in reason:
            raise UploadRejected(413, f"{name}: {reason}") from None
        if "not an image" in reason or "allowed formats" in reason:
            raise UploadRejected(415, f"{name}: {reason}") from None
        raise UploadRejected(422, f"{name}: {reason}") from None


def save_atomic(root: Path, name: str, data: bytes) -> Path:
    """Write ``root/name`` so that a crash leaves the old file or the new one, never half.

    Returns:
        The written file's path.
    """
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
