"""Training pairs: the captioned photos of a catalog, a deterministic held-out split, and
the photos decoded once into a uint8 array so that an epoch costs only the model."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ingest.catalog import Catalog
from ingest.images import ImageError, Preprocess, load_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    """One captioned photo.

    Attributes:
        rel: The photo's path relative to the image folder.
        path: Its absolute path.
        caption: Its caption.
    """

    rel: str
    path: Path
    caption: str


def catalog_pairs(catalog: Catalog) -> list[Pair]:
    """The photos of ``catalog`` that have a caption, in catalog order."""
    return [Pair(it.rel, it.path, it.caption) for it in catalog.items if it.caption]


def is_held_out(name: str, fraction: float) -> bool:
    """Whether a photo belongs to the held-out split: a hash of its file name, so the split
    is the same on every run and does not move when photos are added or removed."""
    if fraction <= 0:
        return False
    digest = hashlib.sha1(name.rsplit("/", 1)[-1].encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_pairs(pairs: Sequence[Pair], fraction: float) -> tuple[list[Pair], list[Pair]]:
    """(train, held-out) by :func:`is_held_out`. Both keep the input order."""
    train = [p for p in pairs if not is_held_out(p.rel, fraction)]
    held = [p for p in pairs if is_held_out(p.rel, fraction)]
    return train, held


def caption_ids(captions: Sequence[str]) -> np.ndarray:
    """An id per caption, equal for identical captions (they are positives of each other)."""
    ids: dict[str, int] = {}
    return np.asarray([ids.setdefault(c, len(ids)) for c in captions], dtype=np.int64)


def square_resize(size: int) -> Preprocess:
    """A plain bicubic square resize to ``size`` (normalisation is applied later)."""
    return Preprocess((size, size), None, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def decode_images(
    pairs: Sequence[Pair], preprocess: Preprocess, workers: int = 2
) -> tuple[np.ndarray, list[int]]:
    """Decode photos once into one ``(N, H, W, 3)`` uint8 array.

    Args:
        pairs: The photos.
        preprocess: How to resize them (e.g. the model's own :class:`Preprocess`, or
            :func:`square_resize` for a larger source of random crops).
        workers: Decode threads (Pillow releases the GIL while decoding).

    Returns:
        The array and the indices into ``pairs`` it holds, in order; a photo that cannot be
        decoded is logged and left out.
    """
    h, w = preprocess.output_size
    out = np.empty((len(pairs), h, w, 3), dtype=np.uint8)

    def one(i: int) -> str | None:
        try:
            out[i] = preprocess.to_array(load_image(pairs[i].path))
        except (ImageError, OSError) as e:
            return f"{pairs[i].rel}: {e}"
        return None

    kept = []
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for i, err in enumerate(pool.map(one, range(len(pairs)))):
            if err is None:
                kept.append(i)
            else:
                log.warning("skipping a photo that cannot be decoded: %s", err)
    if len(kept) != len(pairs):
        out = out[kept]
    return out, kept


def resize_array(u8: np.ndarray, size: int) -> np.ndarray:
    """Bicubic resize of an ``(N, H, W, 3)`` uint8 array (to evaluate from a training source)."""
    if u8.shape[1:3] == (size, size):
        return u8
    return np.stack(
        [np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BICUBIC)) for a in u8]
    )
