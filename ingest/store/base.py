"""The store interface: what tuwen needs from Qdrant, written once over a few backend primitives.

A backend (:mod:`ingest.store.edge`, :mod:`ingest.store.server`) supplies how to create and
describe a collection, how to spell vectors, filters and requests in its client's types, and the
raw calls (write, delete, scroll a page, count, retrieve, query a batch). Everything else
(filters, paging, ordering, one-leg or fused requests, missing-collection rules) lives here, so
both backends pass one contract suite.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ingest.hits import Hit
from ingest.keywords import SparseVector
from ingest.models.fingerprint import Fingerprint
from ingest.store.schema import (
    CAPTION,
    IMAGE,
    KEYWORDS,
    LOOK,
    Leg,
    PointData,
    Search,
    StoredEntry,
    StoredPoint,
    point_id,
)

RETURNED_PAYLOAD = ["file", "caption"]  # what a search hit carries


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
    return Hit(str(scored.id), payload.get("file", ""), payload.get("caption"), float(scored.score))


def mismatch(stored: Fingerprint, wanted: Fingerprint, where: str) -> ModelMismatch:
    """The error for a collection built with another model, with what to do about it."""
    return ModelMismatch(
        f"collection {where} was built with {stored.model} (revision {stored.revision}, "
        f"dim {stored.dim}) but the model now is {wanted.model} (revision {wanted.revision}, "
        f"dim {wanted.dim}). Vectors of different models cannot be mixed: pass the original "
        "model with --clip-model / TUWEN_CLIP_MODEL, or index into another collection "
        "(TUWEN_COLLECTION) or data dir (--data-dir), or delete the collection to rebuild it."
    )


class Store(abc.ABC):
    """The operations tuwen needs from Qdrant; both backends pass one contract suite."""

    collection: str
    location: str

    # ------------------------------------------------------------------ backend primitives

    @property
    @abc.abstractmethod
    def has_look(self) -> bool:
        """Whether the collection has the ``look`` vector (collections made before it do not)."""

    @abc.abstractmethod
    def stored_fingerprint(self) -> Fingerprint | None:
        """The model fingerprint recorded with the collection, or ``None`` if it does not exist."""

    @abc.abstractmethod
    def _create(self, fingerprint: Fingerprint) -> None:
        """Create the collection with :func:`~ingest.store.schema.collection_metadata`."""

    @abc.abstractmethod
    def _sparse(self, v: SparseVector) -> Any:
        """A sparse vector in the backend's type."""

    @abc.abstractmethod
    def _has_vector(self, name: str) -> Any:
        """The condition "the point has the named vector"."""

    @abc.abstractmethod
    def _has_ids(self, ids: Sequence[str]) -> Any:
        """The condition "the point id is one of ``ids``"."""

    @abc.abstractmethod
    def _caption_is(self, caption: str) -> Any:
        """The condition "the payload caption equals ``caption``"."""

    @abc.abstractmethod
    def _filter_of(self, must: list | None, must_not: list | None) -> Any:
        """A filter of conditions."""

    @abc.abstractmethod
    def _nearest(self, leg: Leg, limit: int, flt: Any) -> Any:
        """A request for the ``limit`` nearest points to one leg, returning file and caption."""

    @abc.abstractmethod
    def _fused(self, s: Search, flt: Any) -> Any:
        """A request fusing the legs of ``s`` (each filtered by ``flt``) with RRF."""

    @abc.abstractmethod
    def _upsert(self, points: Sequence[PointData]) -> None:
        """Write whole points; ``points`` is not empty."""

    @abc.abstractmethod
    def _delete(self, ids: list[str]) -> None:
        """Delete points by id; ``ids`` is not empty."""

    @abc.abstractmethod
    def _scroll_page(self, fields: list[str], flt: Any, offset: Any) -> tuple[list, Any]:
        """One page of records with the payload ``fields``, and the next offset (``None`` at
        the end)."""

    @abc.abstractmethod
    def _count(self, flt: Any) -> int:
        """The exact number of points matching ``flt`` (``None``: all)."""

    @abc.abstractmethod
    def _retrieve(self, ids: list[str], vectors: list[str]) -> list:
        """Records by id with their payload and the named vectors."""

    @abc.abstractmethod
    def _query_batch(self, requests: list) -> list[list]:
        """Run requests made by :meth:`_nearest` / :meth:`_fused`; scored points per request."""

    # ------------------------------------------------------------------ the collection

    def ensure(self, fingerprint: Fingerprint) -> None:
        """Create the collection for this model, or check that it was built with it.

        Raises:
            ModelMismatch: the collection exists with another model.
        """
        stored = self.stored_fingerprint()
        if stored is None:
            self._create(fingerprint)
        elif stored != fingerprint:
            raise mismatch(stored, fingerprint, f"{self.collection!r} at {self.location}")

    def require(self) -> Fingerprint:
        """The stored fingerprint of an existing collection, for readers.

        Raises:
            StoreError: there is no collection; the message says how to make one.
        """
        fp = self.stored_fingerprint()
        if fp is None:
            raise StoreError(
                f"no collection {self.collection!r} at {self.location}: run `tuwen ingest "
                "IMAGES_DIR --captions CSV` first (or point --data-dir / --qdrant-url at it)"
            )
        return fp

    def _exists(self) -> bool:
        return self.stored_fingerprint() is not None

    # ------------------------------------------------------------------ vectors and filters

    def _vector(self, v: Sequence[float] | SparseVector) -> Any:
        """A query or point vector in the backend's own type."""
        if isinstance(v, SparseVector):
            return self._sparse(v)
        # A list, not the array: Qdrant Edge reads a float32 array element by element through
        # NumPy scalars, ~1.7x slower than ``tolist()`` plus its list fast path.
        return v.tolist() if isinstance(v, np.ndarray) else [float(x) for x in v]

    def _named_vectors(self, p: PointData) -> dict:
        vec: dict = {IMAGE: self._vector(p.image)}
        if p.caption_vector is not None:
            vec[CAPTION] = self._vector(p.caption_vector)
        if p.keywords:
            vec[KEYWORDS] = self._vector(p.keywords)
        if p.look is not None and self.has_look:
            vec[LOOK] = self._vector(p.look)
        return vec

    def _filter(
        self, captioned_only: bool, exclude_ids: Sequence[str], uncaptioned_only: bool = False
    ) -> Any:
        must = [self._has_vector(CAPTION)] if captioned_only else None
        must_not = [self._has_ids(exclude_ids)] if exclude_ids else []
        if uncaptioned_only:
            must_not.append(self._has_vector(CAPTION))
        if must is None and not must_not:
            return None
        return self._filter_of(must, must_not or None)

    # ------------------------------------------------------------------ writing

    def upsert(self, points: Sequence[PointData]) -> None:
        """Insert or replace whole points (vectors and payload together)."""
        if points:
            self._upsert(points)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id (ids not stored are ignored)."""
        if ids:
            self._delete(list(ids))

    # ------------------------------------------------------------------ reading

    def _scroll(self, fields: list[str], caption: str | None = None) -> Iterator[tuple[str, dict]]:
        """(id, payload fields) of every point, or of those whose caption equals ``caption``."""
        if not self._exists():
            return
        flt = None if caption is None else self._filter_of([self._caption_is(caption)], None)
        offset = None
        while True:
            records, offset = self._scroll_page(fields, flt, offset)
            for r in records:
                yield str(r.id), dict(r.payload or {})
            if offset is None:
                return

    def with_caption(self, caption: str, limit: int = 10) -> list[Hit]:
        """Products whose caption is exactly ``caption`` (score 1.0), in store order."""
        out = []
        for pid, p in self._scroll(["file", "caption"], caption=caption):
            out.append(Hit(pid, p.get("file", ""), p.get("caption"), 1.0))
            if len(out) >= limit:
                break
        return out

    def manifest(self) -> dict[str, StoredEntry]:
        """id → (file, hash, image_hash) of every stored point."""
        return {
            pid: StoredEntry(p.get("file", ""), p.get("hash", ""), p.get("image_hash", ""))
            for pid, p in self._scroll(["file", "hash", "image_hash"])
        }

    def entries(self, ids: Sequence[str]) -> dict[str, StoredEntry]:
        """Like :meth:`manifest`, for the given ids only (missing ids are left out)."""
        return {
            p.id: StoredEntry(p.file, p.payload.get("hash", ""), p.payload.get("image_hash", ""))
            for p in self.get(ids)
        }

    def count(self, captioned_only: bool = False) -> int:
        """The number of points (0 without a collection); ``captioned_only``: with a caption."""
        if not self._exists():
            return 0
        return self._count(self._filter(True, ()) if captioned_only else None)

    def get(self, ids: Sequence[str], vectors: Sequence[str] = ()) -> list[StoredPoint]:
        """Points by id in the order asked (missing ids are skipped), with the named vectors."""
        if not ids or not self._exists():
            return []
        by_id = {str(r.id): stored_point(r) for r in self._retrieve(list(ids), list(vectors))}
        return [by_id[i] for i in ids if i in by_id]

    def get_file(self, rel: str, vectors: Sequence[str] = ()) -> StoredPoint | None:
        """The point of the image at relative path ``rel``, or ``None``."""
        found = self.get([point_id(rel)], vectors)
        return found[0] if found else None

    # ------------------------------------------------------------------ searching

    def _request(self, s: Search) -> Any:
        flt = self._filter(s.captioned_only, s.exclude_ids, s.uncaptioned_only)
        if len(s.legs) == 1:
            return self._nearest(s.legs[0], s.limit, flt)
        return self._fused(s, flt)

    def search_batch(self, searches: Sequence[Search]) -> list[list[Hit]]:
        """Run several searches at once; one ranked hit list per search.

        Equal scores come out ordered by file name, so the same search always ranks the same
        way. Fused scores tie often (RRF: ranks 1 and 5 score as 5 and 1) and Qdrant returns
        ties in no fixed order, so each search asks for twice its limit and cuts here.

        Raises:
            StoreError: there is no collection.
        """
        if not searches:
            return []
        self.require()
        wide = [self._request(replace(s, limit=2 * s.limit)) for s in searches]
        return [
            sorted((hit(p) for p in scored), key=lambda h: (-h.score, h.file))[: s.limit]
            for s, scored in zip(searches, self._query_batch(wide), strict=True)
        ]

    def search(self, search: Search) -> list[Hit]:
        """One search (see :meth:`search_batch`)."""
        return self.search_batch([search])[0]

    # ------------------------------------------------------------------ lifecycle

    def optimize(self) -> bool:
        """Build the search indexes (HNSW) for what was written since the last call, blocking.

        A no-op where the backend indexes by itself (a Qdrant server does, in the background).
        Returns whether anything was rebuilt.
        """
        return False

    def close(self) -> None:  # noqa: B027 - optional for backends
        """Flush and release the store."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
