"""What the store hands back and the errors it raises, backend-neutral: hits and stored points
from either client's records, and the one message for a model mismatch."""

from __future__ import annotations

from typing import Any

from ingest.hits import Hit
from ingest.keywords import SparseVector
from ingest.models.fingerprint import Fingerprint
from ingest.store.schema import StoredPoint

RETURNED_PAYLOAD = ["file", "caption", "caption_source", "attributes"]  # what a hit carries
#: A photo's plausible values with their probabilities, returned only when a search asks
#: (:attr:`~ingest.store.schema.Search.payload`).
LIKELY = "likely"


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message says what to do."""


class ModelMismatch(StoreError):
    """The collection was built with another model."""


class StoreLocked(StoreError):
    """Another process (usually a running ``tuwen serve``) holds the embedded store."""


def stored_point(record: Any) -> StoredPoint:
    """A backend record (Qdrant Edge or qdrant-client) as a :class:`StoredPoint`."""
    vec: dict = {}
    named = record.vector if isinstance(record.vector, dict) else {}
    for name, v in named.items():
        vec[name] = (
            SparseVector(list(v.indices), list(v.values)) if hasattr(v, "indices") else list(v)
        )
    p = dict(record.payload or {})
    return StoredPoint(str(record.id), p.get("file", ""), p.get("caption"), vec, p)


def hit(scored: Any) -> Hit:
    """A backend scored point as a :class:`Hit`."""
    payload = scored.payload or {}
    attributes = payload.get("attributes")
    likely = payload.get("likely")
    return Hit(
        str(scored.id),
        payload.get("file", ""),
        payload.get("caption"),
        float(scored.score),
        payload.get("caption_source"),
        dict(attributes) if isinstance(attributes, dict) else None,
        dict(likely) if isinstance(likely, dict) else None,
    )


def mismatch(stored: Fingerprint, wanted: Fingerprint, where: str) -> ModelMismatch:
    """The error for a collection built with another model, with what to do about it."""
    return ModelMismatch(
        f"collection {where} was built with {stored.model} (revision {stored.revision}, "
        f"dim {stored.dim}) but the model now is {wanted.model} (revision {wanted.revision}, "
        f"dim {wanted.dim}). Vectors of different models cannot be mixed: pass the original "
        "model with --clip-model / TUWEN_CLIP_MODEL, or index into another collection "
        "(TUWEN_COLLECTION) or data dir (--data-dir), or delete the collection to rebuild it."
    )


class Scored:
    """A scrolled record read as a scored point (score 1.0), for :func:`hit`."""

    def __init__(self, pid: str, payload: dict) -> None:
        self.id, self.payload, self.score = pid, payload, 1.0
