"""The questioned photo for a generator that sees images: its pixels, and the citation it
allows (a vision model may cite the photo it was shown, as it may the neighbours)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from PIL import Image

from ingest.hits import Hit
from ingest.images import ImageError, load_image
from service.answering.retrieve import QueryImage

logger = logging.getLogger(__name__)

__all__ = ["catalog_photo_path", "photo_hit", "question_photo"]


def question_photo(
    query: QueryImage, photo_path: Callable[[str], Path | None] | None = None
) -> Image.Image | None:
    """The pixels of the questioned image.

    An upload (or a photo outside the catalog) was decoded when it was resolved. A catalog
    image reuses its stored vector, so its file is read now: where ``photo_path`` finds it,
    else from the path the question named.

    Args:
        query: The questioned image as retrieval resolved it.
        photo_path: Where an indexed file's photo is on disk, or ``None`` where it is not.

    Returns:
        The photo (RGB, EXIF orientation applied), or ``None`` when no readable file holds it;
        the reason is logged.
    """
    if query.photo is not None:
        return query.photo
    found = photo_path(query.file) if photo_path is not None and query.file else None
    for path in (found, query.path):
        if path is None or not path.is_file():
            continue
        try:
            return load_image(path.read_bytes())
        except (OSError, ImageError) as e:
            logger.warning("cannot read the questioned photo %s for the vision model: %s", path, e)
            return None
    logger.warning(
        "the photo of %r is not on disk here (TUWEN_IMAGES_DIR names the catalog folder); "
        "the vision model answers from the captions alone",
        query.file,
    )
    return None


def catalog_photo_path(images_dir: str | Path | None) -> Callable[[str], Path | None]:
    """A ``photo_path`` for :func:`question_photo`: the file under ``images_dir`` (the catalog
    folder), never outside it."""

    def locate(name: str) -> Path | None:
        if images_dir is None:
            return None
        root = Path(images_dir).resolve()
        path = (root / PurePosixPath(name)).resolve()
        return path if path.is_relative_to(root) and path.is_file() else None

    return locate


def photo_hit(
    query: QueryImage | None, own_caption: str | None, shown: Sequence[Hit]
) -> Hit | None:
    """The questioned catalog image as a citable hit, when the model was shown it and it is
    not among ``shown`` already; ``None`` for an upload (it has no catalog file to cite)."""
    if query is None or not query.file or any(h.file == query.file for h in shown):
        return None
    return Hit(query.id or "", query.file, own_caption, 1.0)
