"""The point layout tuwen writes to Qdrant, and the search requests it makes.

One point per image, id = uuid5 of the relative path; named dense vectors ``image`` and
``caption`` (CLIP, cosine) and ``look`` (:mod:`ingest.look`, cosine), sparse ``keywords``
(IDF); payload ``file``, ``caption``, ``has_caption``, ``hash`` (sha256 of bytes + caption),
``image_hash``, ``ingested_at``. The model fingerprint and the ``look`` dimension are stored
with the collection (:func:`collection_metadata`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ingest.keywords import SparseVector
from ingest.look import DIM as LOOK_DIM
from ingest.look import LOOK
from ingest.models.fingerprint import Fingerprint

IMAGE, CAPTION, KEYWORDS = "image", "caption", "keywords"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "tuwen.catalog")
PAGE = 1024  # points per scroll request

__all__ = [
    "CAPTION",
    "IMAGE",
    "KEYWORDS",
    "LOOK",
    "LOOK_DIM",
    "Leg",
    "PointData",
    "Search",
    "StoredEntry",
    "StoredPoint",
    "collection_metadata",
    "point_id",
    "read_metadata",
]


def point_id(rel: str) -> str:
    """The point id of an image: uuid5 of its relative ``/``-separated path."""
    return str(uuid.uuid5(NAMESPACE, rel))


@dataclass
class PointData:
    """Everything one point holds."""

    file: str
    caption: str | None
    image: np.ndarray
    caption_vector: np.ndarray | None
    keywords: SparseVector | None
    hash: str
    image_hash: str
    ingested_at: str
    look: np.ndarray | None = None

    @property
    def id(self) -> str:
        """The point id (:func:`point_id` of :attr:`file`)."""
        return point_id(self.file)

    def payload(self) -> dict:
        """The payload stored with the vectors."""
        return {
            "file": self.file,
            "caption": self.caption,
            "has_caption": bool(self.caption),
            "hash": self.hash,
            "image_hash": self.image_hash,
            "ingested_at": self.ingested_at,
        }


@dataclass(frozen=True)
class StoredEntry:
    """What planning needs to know about a stored point."""

    file: str
    hash: str
    image_hash: str


@dataclass
class StoredPoint:
    """A stored point read back, with the vectors asked for."""

    id: str
    file: str
    caption: str | None
    vectors: dict[str, list[float] | SparseVector] = field(default_factory=dict)
    payload: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Leg:
    """One input of a search: a query vector against one named vector."""

    vector: Sequence[float] | SparseVector
    using: str
    limit: int


@dataclass(frozen=True)
class Search:
    """A search: one leg is a plain nearest-neighbour query; several are fused with RRF."""

    legs: tuple[Leg, ...]
    limit: int
    captioned_only: bool = False
    uncaptioned_only: bool = False
    exclude_ids: tuple[str, ...] = ()
    rrf_k: int = 60
    weights: tuple[float, ...] | None = None


def collection_metadata(fingerprint: Fingerprint) -> dict:
    """What a new collection records about itself: the model and the ``look`` dimension."""
    return {"fingerprint": fingerprint.to_dict(), "look_dim": LOOK_DIM}


def read_metadata(meta: dict) -> tuple[Fingerprint, bool]:
    """The fingerprint in :func:`collection_metadata`'s data, and whether the collection has the
    ``look`` vector (collections made before it have no ``look_dim``)."""
    return Fingerprint.from_dict(meta["fingerprint"]), meta.get("look_dim") == LOOK_DIM
