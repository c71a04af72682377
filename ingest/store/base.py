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
from typing import Any

import numpy as np

from ingest.hits import Hit
from ingest.keywords import SparseVector
from ingest.models.fingerprint import Fingerprint, same_model
from ingest.store.facets import Faceted
from ingest.store.groups import Grouped
from ingest.store.records import (
    RETURNED_PAYLOAD,
    Scored,
    StoreError,
    hit,
    mismatch,
    stored_point,
)
from ingest.store.schema import (
    CAPTION,
    ENTRY_FIELDS,
    IMAGE,
    INDEXED,
    KEYWORDS,
    LOOK,
    Leg,
    PointData,
    Search,
    StoredEntry,
    StoredPoint,
    point_id,
    stored_entry,
)
from ingest.store.searching import Searching


class Store(Searching, Faceted, Grouped):
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
    def _match(self, key: str, value: str) -> Any:
        """The condition "payload ``key`` equals ``value``"."""

    @abc.abstractmethod
    def _filter_of(
        self, must: list | None, must_not: list | None, min_should: tuple[list, int] | None = None
    ) -> Any:
        """A filter of conditions; ``min_should``: (conditions, how many must hold)."""

    @abc.abstractmethod
    def _nearest(self, leg: Leg, limit: int, flt: Any, fields: list[str]) -> Any:
        """A request for the ``limit`` best points of one leg (filtered by ``flt``; an
        agreement leg's formula over its filtered prefetch), returning the payload ``fields``."""

    @abc.abstractmethod
    def _fused(self, s: Search, flts: list, fields: list[str]) -> Any:
        """A request fusing the legs of ``s`` with RRF, leg ``i`` filtered by ``flts[i]``."""

    @abc.abstractmethod
    def _upsert(self, points: Sequence[PointData]) -> None:
        """Write whole points; ``points`` is not empty."""

    @abc.abstractmethod
    def _set_payloads(self, updates: Sequence[tuple[str, dict]]) -> None:
        """Merge payload fields into existing points (``updates`` is not empty); a field set
        to ``None`` is removed."""

    @abc.abstractmethod
    def _indexed(self) -> set[str]:
        """The payload fields that have an index."""

    @abc.abstractmethod
    def _create_index(self, key: str, kind: str) -> None:
        """Create a payload index (``kind``: ``keyword`` or ``bool``)."""

    @abc.abstractmethod
    def _metadata(self) -> dict:
        """The collection's tuwen metadata (:func:`~ingest.store.schema.collection_metadata`
        and what was added to it)."""

    @abc.abstractmethod
    def _write_metadata(self, meta: dict) -> None:
        """Replace the collection's tuwen metadata."""

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
        elif not same_model(stored, fingerprint):
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

    def ensure_indexes(self) -> list[str]:
        """Create the payload indexes of :data:`~ingest.store.schema.INDEXED` that are missing:
        writers (the ingest job) call this, so a new collection gets them with its first points
        and a collection made by an older version gets them on the next run.

        Returns:
            The fields indexed now.
        """
        have = self._indexed()
        made = [key for key in INDEXED if key not in have]
        for key in made:
            self._create_index(key, INDEXED[key])
        return made

    def metadata_value(self, key: str) -> Any:
        """A value stored with the collection's metadata (``None`` when absent or no collection)."""
        return self._metadata().get(key) if self._exists() else None

    def set_metadata_value(self, key: str, value: Any) -> None:
        """Store a JSON-ready value with the collection's metadata (the collection must exist)."""
        self.require()
        meta = dict(self._metadata())
        if meta.get(key) != value:
            meta[key] = value
            self._write_metadata(meta)

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
        self,
        captioned_only: bool,
        exclude_ids: Sequence[str],
        uncaptioned_only: bool = False,
        leg: Leg | None = None,
    ) -> Any:
        """The filter of a search (for an agreement ``leg``, with its ``min_count`` rule).

        "Captioned" means a real caption: generated captions are searched by text, but never
        count as a product's annotation.
        """
        real = self._real_caption()
        must = [real] if captioned_only else None
        must_not = [self._has_ids(exclude_ids)] if exclude_ids else []
        if uncaptioned_only:
            must_not.append(real)
        min_should = None
        if leg is not None and leg.agree is not None and leg.agree.values:
            agree = leg.agree
            counted = agree.values[: agree.counted]
            conditions = [self._match(f"{agree.key}.{f}", v) for f, v, _ in counted]
            min_should = (conditions, max(1, min(agree.min_count, len(conditions))))
        if must is None and not must_not and min_should is None:
            return None
        return self._filter_of(must, must_not or None, min_should)

    # ------------------------------------------------------------------ writing

    def upsert(self, points: Sequence[PointData]) -> None:
        """Insert or replace whole points (vectors and payload together)."""
        if points:
            self._upsert(points)

    def _real_caption(self) -> Any:
        """The condition "the point has a real caption": a caption vector, not generated (a
        collection written before generated captions has no ``caption_source``)."""
        return self._filter_of(
            [self._has_vector(CAPTION)], [self._match("caption_source", "generated")]
        )

    def update_payloads(self, updates: Sequence[tuple[str, dict]]) -> None:
        """Merge payload fields into stored points, vectors untouched (``None`` removes a field).

        Args:
            updates: ``(point id, fields)`` pairs.
        """
        if updates:
            self._set_payloads(updates)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id (ids not stored are ignored)."""
        if ids:
            self._delete(list(ids))

    # ------------------------------------------------------------------ reading

    def _scroll(self, fields: list[str], caption: str | None = None) -> Iterator[tuple[str, dict]]:
        """(id, payload fields) of every point, or of those whose real caption is ``caption``."""
        if not self._exists():
            return
        flt = None
        if caption is not None:
            flt = self._filter_of([self._match("caption", caption), self._real_caption()], None)
        offset = None
        while True:
            records, offset = self._scroll_page(fields, flt, offset)
            for r in records:
                yield str(r.id), dict(r.payload or {})
            if offset is None:
                return

    def with_caption(self, caption: str, limit: int = 10) -> list[Hit]:
        """Products whose real caption is exactly ``caption`` (score 1.0), in store order."""
        out = []
        for pid, p in self._scroll(RETURNED_PAYLOAD, caption=caption):
            out.append(hit(Scored(pid, p)))
            if len(out) >= limit:
                break
        return out

    def real_captions(self) -> Iterator[tuple[str, dict | None]]:
        """``(caption, stored attributes or None)`` of every point with a real caption (not a
        generated one), in store order: what the catalog itself says (the VQA stage's answer
        vocabulary without answer heads)."""
        for _, p in self._scroll(["caption", "has_caption", "attributes"]):
            if p.get("has_caption") and p.get("caption"):
                yield p["caption"], p.get("attributes")

    def manifest(self) -> dict[str, StoredEntry]:
        """id → :class:`StoredEntry` (file, hashes, attributes key, captioner) of every point."""
        return {pid: stored_entry(p) for pid, p in self._scroll(ENTRY_FIELDS)}

    def entries(self, ids: Sequence[str]) -> dict[str, StoredEntry]:
        """Like :meth:`manifest`, for the given ids only (missing ids are left out)."""
        return {p.id: stored_entry(p.payload) for p in self.get(ids)}

    def count(self, captioned_only: bool = False, generated_only: bool = False) -> int:
        """The number of points (0 without a collection).

        Args:
            captioned_only: Only points with a real caption.
            generated_only: Only points with a generated caption.
        """
        if not self._exists():
            return 0
        if generated_only:
            return self._count(self._filter_of([self._match("caption_source", "generated")], None))
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
