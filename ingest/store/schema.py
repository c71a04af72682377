"""The point layout tuwen writes to Qdrant, and the search requests it makes.

One point per image, id = uuid5 of the relative path; named dense vectors ``image`` and
``caption`` (CLIP, cosine) and ``look`` (:mod:`ingest.look`, cosine), sparse ``keywords``
(IDF); payload ``file``, ``caption``, ``has_caption`` (a real caption), ``hash`` (sha256 of
bytes + real caption), ``image_hash``, ``ingested_at``, and where there are any
``caption_source`` (``caption`` | ``generated``), ``captioner``, ``attributes`` (field →
canonical value), ``attribute_source`` (``caption`` | ``predicted``) and ``attributes_key``
(:func:`ingest.attributes.attributes_key`); for a photo a captioner looked at, ``likely``
(field → plausible value → probability) and ``plausible`` (field → those values, indexed for
the likelihood ranking's filter); and once ``tuwen duplicates --store`` ran, ``variant``
(the id of the point's group of variants). The model fingerprint, the ``look`` dimension
and the catalog's lexicon are stored with the collection (:func:`collection_metadata`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ingest.attributes.words import ALL_FIELDS
from ingest.keywords import SparseVector
from ingest.look import DIM as LOOK_DIM
from ingest.look import LOOK
from ingest.models.fingerprint import Fingerprint

IMAGE, CAPTION, KEYWORDS = "image", "caption", "keywords"
#: Payload field naming a point's group of variants (``tuwen duplicates --store``).
VARIANT = "variant"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "tuwen.catalog")
PAGE = 1024  # points per scroll request

#: Payload indexes (all keyword): ``caption`` serves the exact-caption lookup,
#: ``caption_source`` the real-caption filters, ``attributes.*`` attribute agreement,
#: ``plausible.*`` the likelihood ranking, ``variant`` grouped search.
INDEXED: dict[str, str] = {
    "caption": "keyword",
    "caption_source": "keyword",
    **{f"attributes.{name}": "keyword" for name in ALL_FIELDS},
    **{f"plausible.{name}": "keyword" for name in ALL_FIELDS},
    VARIANT: "keyword",
}

__all__ = [
    "Agree",
    "CAPTION",
    "IMAGE",
    "KEYWORDS",
    "LOOK",
    "INDEXED",
    "VARIANT",
    "LOOK_DIM",
    "Leg",
    "PointData",
    "Search",
    "StoredEntry",
    "StoredPoint",
    "collection_metadata",
    "stored_entry",
    "point_id",
    "read_metadata",
]


def point_id(rel: str) -> str:
    """The point id of an image: uuid5 of its relative ``/``-separated path."""
    return str(uuid.uuid5(NAMESPACE, rel))


@dataclass
class PointData:
    """Everything one point holds.

    Attributes:
        caption: The caption stored and searched: the real one, or a generated one
            (``caption_source="generated"``).
        hash: Content hash of the photo and its *real* caption (a generated caption never
            changes it, so the planner sees the photo as unchanged).
        caption_source: ``"caption"``, ``"generated"`` or ``None`` (no caption).
        captioner: The captioner that looked at the photo (set even when it proposed
            nothing, so a rerun with it does not look again).
        attributes: Field → canonical value, only the fields found.
        attribute_source: ``"caption"`` or ``"predicted"`` (``None`` without attributes).
        attributes_key: The payload schema and lexicon the attributes were made with.
        likely: For a photo a captioner looked at, field → plausible value → probability
            (:attr:`ingest.captioning.Generated.likely`).
    """

    file: str
    caption: str | None
    image: np.ndarray
    caption_vector: np.ndarray | None
    keywords: SparseVector | None
    hash: str
    image_hash: str
    ingested_at: str
    look: np.ndarray | None = None
    caption_source: str | None = None
    captioner: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    attribute_source: str | None = None
    attributes_key: str | None = None
    likely: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The point id (:func:`point_id` of :attr:`file`)."""
        return point_id(self.file)

    def payload(self) -> dict:
        """The payload stored with the vectors."""
        source = self.caption_source or ("caption" if self.caption else None)
        payload = {
            "file": self.file,
            "caption": self.caption,
            "has_caption": bool(self.caption) and source == "caption",
            "hash": self.hash,
            "image_hash": self.image_hash,
            "ingested_at": self.ingested_at,
        }
        extra = {
            "caption_source": source if self.caption else None,
            "captioner": self.captioner,
            "attributes": dict(self.attributes) if self.attributes else None,
            "attribute_source": self.attribute_source if self.attributes else None,
            "attributes_key": self.attributes_key,
            "likely": {f: dict(d) for f, d in self.likely.items()} if self.likely else None,
            "plausible": {f: list(d) for f, d in self.likely.items()} if self.likely else None,
        }
        payload.update({k: v for k, v in extra.items() if v is not None})
        return payload


@dataclass(frozen=True)
class StoredEntry:
    """What planning needs to know about a stored point."""

    file: str
    hash: str
    image_hash: str
    attributes_key: str = ""
    captioner: str = ""
    caption_source: str = ""


#: The payload fields :class:`StoredEntry` is read from.
ENTRY_FIELDS = ["file", "hash", "image_hash", "attributes_key", "captioner", "caption_source"]


def stored_entry(payload: dict) -> StoredEntry:
    """A :class:`StoredEntry` from a point's payload (fields it lacks read as ``""``)."""
    return StoredEntry(*(str(payload.get(name) or "") for name in ENTRY_FIELDS))


@dataclass
class StoredPoint:
    """A stored point read back, with the vectors asked for."""

    id: str
    file: str
    caption: str | None
    vectors: dict[str, list[float] | SparseVector] = field(default_factory=dict)
    payload: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Agree:
    """Attribute agreement: a leg's candidates ranked by the attributes they share.

    Attributes:
        values: ``(field, value, weight)`` per attribute of the query, e.g.
            ``("color", "黑色", 1.0)``; matched against the payload's ``<key>.<field>``.
        min_count: Candidates agree on at least this many of ``values`` (of the first
            ``counted`` of them, when set).
        counted: How many of ``values``, from the first, ``min_count`` counts over.
        pool: Candidates gathered (nearest to the leg's vector among those that agree)
            before scoring.
        similarity: Weight of the leg's vector score in the candidate's score, so that
            products agreeing equally are ordered by similarity.
        key: The payload field the values are matched in, ``<key>.<field>``: the stored
            ``attributes``, or a photo's ``plausible`` values.
    """

    values: tuple[tuple[str, str, float], ...]
    min_count: int = 1
    counted: int | None = None
    pool: int = 200
    similarity: float = 0.1
    key: str = "attributes"


@dataclass(frozen=True)
class Leg:
    """One input of a search: a query vector against one named vector.

    With ``agree``, the leg ranks by attribute agreement instead: the score of a candidate is
    ``Σ weight · [attribute agrees] + agree.similarity · similarity`` (a Qdrant formula query
    over a filtered nearest-neighbour prefetch).
    """

    vector: Sequence[float] | SparseVector
    using: str
    limit: int
    agree: Agree | None = None


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
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()  # attribute filter: facets.as_filters
    payload: tuple[str, ...] = ()  # returned besides RETURNED_PAYLOAD (e.g. ``likely``)
    whole_ties: bool = False  # never cut inside a group of equal scores (Store.search_batch)
    ids_only: bool = False  # hits carry id and score, no payload (Store.with_payload fills it)


def collection_metadata(fingerprint: Fingerprint) -> dict:
    """What a new collection records about itself: the model and the ``look`` dimension (the
    catalog's lexicon is added by the ingest job, under ``lexicon``)."""
    return {"fingerprint": fingerprint.to_dict(), "look_dim": LOOK_DIM}


def read_metadata(meta: dict) -> tuple[Fingerprint, bool]:
    """The fingerprint in :func:`collection_metadata`'s data, and whether the collection has the
    ``look`` vector (collections made before it have no ``look_dim``)."""
    return Fingerprint.from_dict(meta["fingerprint"]), meta.get("look_dim") == LOOK_DIM
