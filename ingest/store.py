"""The vector store: one small interface, two Qdrant backends.

- :class:`EdgeStore` — Qdrant Edge (``qdrant-edge-py``), the Qdrant engine in-process,
  stored under ``TUWEN_DATA_DIR`` (default ``./tuwen-data``); the default.
- :class:`ServerStore` — ``qdrant-client`` against a Qdrant server (``TUWEN_QDRANT_URL``),
  or any ``QdrantClient`` passed in (``QdrantClient(":memory:")`` in tests).

Point layout: one point per image, id = uuid5 of the relative path; named dense vectors
``image`` and ``caption`` (CLIP, cosine) and ``look`` (:mod:`ingest.look`, cosine), sparse
``keywords`` (IDF); payload ``file``,
``caption``, ``has_caption``, ``hash`` (sha256 of bytes + caption), ``image_hash``,
``ingested_at``. The model fingerprint is stored with the collection. A collection made before the
``look`` vector existed is used without it (:attr:`Store.has_look` is false).
"""

from __future__ import annotations

import abc
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ingest.atomic import write_json_atomic
from ingest.encoders import Fingerprint
from ingest.hits import Hit
from ingest.keywords import SparseVector
from ingest.look import DIM as LOOK_DIM
from ingest.look import LOOK

IMAGE, CAPTION, KEYWORDS = "image", "caption", "keywords"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "tuwen.catalog")
PAGE = 1024


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message says what to do."""


class ModelMismatch(StoreError):
    """The collection was built with another model."""


class StoreLocked(StoreError):
    """Another process (usually a running ``tuwen serve``) holds the embedded store."""


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
        return point_id(self.file)

    def payload(self) -> dict:
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


def _stored_point(r) -> StoredPoint:
    """A backend record (Edge or qdrant-client) as a :class:`StoredPoint`."""
    vec: dict = {}
    for name, v in (r.vector or {}).items() if isinstance(r.vector, dict) else ():
        vec[name] = (
            SparseVector(list(v.indices), list(v.values)) if hasattr(v, "indices") else list(v)
        )
    p = dict(r.payload or {})
    return StoredPoint(str(r.id), p.get("file", ""), p.get("caption"), vec, p)


def _in_order(ids: Sequence[str], records) -> list[StoredPoint]:
    by_id = {str(r.id): _stored_point(r) for r in records}
    return [by_id[i] for i in ids if i in by_id]


def _hit(p) -> Hit:
    """A backend scored point as a :class:`Hit`."""
    payload = p.payload or {}
    return Hit(str(p.id), payload.get("file", ""), payload.get("caption"), float(p.score))


def _fingerprint_error(stored: Fingerprint, wanted: Fingerprint, where: str) -> ModelMismatch:
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

    @property
    @abc.abstractmethod
    def has_look(self) -> bool:
        """Whether the collection has the ``look`` vector (collections made before it do not)."""

    @abc.abstractmethod
    def stored_fingerprint(self) -> Fingerprint | None:
        """The model fingerprint recorded with the collection, or ``None`` if it does not exist."""

    @abc.abstractmethod
    def _create(self, fingerprint: Fingerprint) -> None: ...

    def ensure(self, fingerprint: Fingerprint) -> None:
        """Create the collection for this model, or check that it was built with it.

        Raises:
            ModelMismatch: the collection exists with another model.
        """
        stored = self.stored_fingerprint()
        if stored is None:
            self._create(fingerprint)
        elif stored != fingerprint:
            raise _fingerprint_error(stored, fingerprint, f"{self.collection!r} at {self.location}")

    def require(self) -> Fingerprint:
        """The stored fingerprint of an existing collection, for readers."""
        fp = self.stored_fingerprint()
        if fp is None:
            raise StoreError(
                f"no collection {self.collection!r} at {self.location}: run `tuwen ingest "
                "IMAGES_DIR --captions CSV` first (or point --data-dir / --qdrant-url at it)"
            )
        return fp

    @abc.abstractmethod
    def _vector(self, v: Sequence[float] | SparseVector):
        """A query or point vector in the backend's own type."""

    def _named_vectors(self, p: PointData) -> dict:
        vec: dict = {IMAGE: self._vector(p.image)}
        if p.caption_vector is not None:
            vec[CAPTION] = self._vector(p.caption_vector)
        if p.keywords:
            vec[KEYWORDS] = self._vector(p.keywords)
        if p.look is not None and self.has_look:
            vec[LOOK] = self._vector(p.look)
        return vec

    @abc.abstractmethod
    def upsert(self, points: Sequence[PointData]) -> None:
        """Insert or replace whole points (vectors and payload together)."""

    @abc.abstractmethod
    def delete(self, ids: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def _scroll(self, fields: list[str], caption: str | None = None) -> Iterator[tuple[str, dict]]:
        """(id, payload fields) of every point, or of those whose caption equals ``caption``."""

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

    @abc.abstractmethod
    def count(self, captioned_only: bool = False) -> int: ...

    @abc.abstractmethod
    def get(self, ids: Sequence[str], vectors: Sequence[str] = ()) -> list[StoredPoint]:
        """Points by id (missing ids are skipped), with the named vectors asked for."""

    def get_file(self, rel: str, vectors: Sequence[str] = ()) -> StoredPoint | None:
        found = self.get([point_id(rel)], vectors)
        return found[0] if found else None

    def search_batch(self, searches: Sequence[Search]) -> list[list[Hit]]:
        """Run several searches at once; one ranked hit list per search.

        Equal scores come out ordered by file name, so the same search always ranks the same
        way. Fused scores tie often (RRF: ranks 1 and 5 score as 5 and 1) and Qdrant returns
        ties in no fixed order, so each search asks for twice its limit and cuts here.
        """
        if not searches:
            return []
        wide = [replace(s, limit=2 * s.limit) for s in searches]
        return [
            sorted(hits, key=lambda h: (-h.score, h.file))[: s.limit]
            for s, hits in zip(searches, self._search_batch(wide), strict=True)
        ]

    @abc.abstractmethod
    def _search_batch(self, searches: Sequence[Search]) -> list[list[Hit]]:
        """The backend's batched query, in its own order."""

    def search(self, search: Search) -> list[Hit]:
        return self.search_batch([search])[0]

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

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- Qdrant Edge


class EdgeStore(Store):
    """Qdrant Edge in-process, one shard per collection under ``data_dir/collections/NAME``.

    The directory is locked while open: a second process gets :class:`StoreLocked`.
    """

    def __init__(self, data_dir: str | Path, collection: str = "tuwen") -> None:
        import qdrant_edge as qe

        self._qe = qe
        self.collection = collection
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "collections" / collection
        self.location = str(self.data_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_file = (self.root / ".lock").open("a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip() or "another process"
            self._lock_file.close()
            raise StoreLocked(
                f"{self.data_dir} is in use by {holder}. If a `tuwen serve` holds it, send the "
                "new products through it: `tuwen ingest --via http://HOST:PORT IMAGES_DIR ...`"
            ) from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"pid {os.getpid()}")
        self._lock_file.flush()
        self._shard = None
        self._fp: Fingerprint | None = None
        self._look = False
        meta = self.root / "tuwen.json"
        shard_dir = self.root / "shard"
        if meta.exists():
            import json

            info = json.loads(meta.read_text("utf-8"))
            self._fp = Fingerprint.from_dict(info["fingerprint"])
            self._look = info.get("look_dim") == LOOK_DIM
            if shard_dir.exists():
                self._shard = qe.EdgeShard.load(str(shard_dir))

    def stored_fingerprint(self) -> Fingerprint | None:
        return self._fp if self._shard is not None else None

    @property
    def has_look(self) -> bool:
        return self._look and self._shard is not None

    def _config(self, dim: int):
        qe = self._qe
        dense = qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)
        return qe.EdgeConfig(
            vectors={
                IMAGE: dense,
                CAPTION: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
                LOOK: qe.EdgeVectorParams(size=LOOK_DIM, distance=qe.Distance.Cosine),
            },
            sparse_vectors={KEYWORDS: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )

    def _create(self, fingerprint: Fingerprint) -> None:
        qe = self._qe
        shard_dir = self.root / "shard"
        tmp = self.root / "shard.creating"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(shard_dir, ignore_errors=True)  # only reachable without metadata
        shard = qe.EdgeShard.create(str(tmp), self._config(fingerprint.dim))
        # Only ``caption`` is ever filtered on (``with_caption``); points are found by id, so a
        # ``file`` index would only cost upsert and load time.
        shard.update(qe.UpdateOperation.create_field_index("caption", qe.PayloadSchemaType.Keyword))
        shard.flush()
        shard.close()
        write_json_atomic(
            self.root / "tuwen.json",
            {
                "collection": self.collection,
                "fingerprint": fingerprint.to_dict(),
                "look_dim": LOOK_DIM,
            },
        )
        os.replace(tmp, shard_dir)
        self._shard = qe.EdgeShard.load(str(shard_dir))
        self._fp = fingerprint
        self._look = True

    @property
    def shard(self):
        if self._shard is None:
            self.require()
        return self._shard

    def _vector(self, v):
        if isinstance(v, SparseVector):
            return self._qe.SparseVector(v.indices, v.values)
        # A list, not the array: Qdrant Edge reads a float32 array element by element through
        # NumPy scalars, ~1.7x slower than ``tolist()`` plus its list fast path.
        return v.tolist() if isinstance(v, np.ndarray) else [float(x) for x in v]

    def optimize(self) -> bool:
        """Qdrant Edge indexes only when asked: until then every search scans all vectors
        (100k points: ~27 ms per hybrid query on 2 cores, ~5 ms once HNSW is built; the build
        takes minutes at that size). Small collections stay below the indexing threshold and
        return at once."""
        if self._shard is None:
            return False
        return bool(self._shard.optimize())

    def upsert(self, points: Sequence[PointData]) -> None:
        if not points:
            return
        qe = self._qe
        out = [qe.Point(p.id, self._named_vectors(p), p.payload()) for p in points]
        self.shard.update(qe.UpdateOperation.upsert_points(out))

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self.shard.update(self._qe.UpdateOperation.delete_points(list(ids)))

    def _scroll(self, fields: list[str], caption: str | None = None) -> Iterator[tuple[str, dict]]:
        if self._shard is None:
            return
        qe = self._qe
        flt = None
        if caption is not None:
            flt = qe.Filter(must=[qe.FieldCondition(key="caption", match=qe.MatchValue(caption))])
        offset = None
        while True:
            recs, offset = self._shard.scroll(
                qe.ScrollRequest(
                    offset=offset, limit=PAGE, filter=flt, with_payload=fields, with_vector=False
                )
            )
            for r in recs:
                yield str(r.id), dict(r.payload or {})
            if offset is None:
                return

    def count(self, captioned_only: bool = False) -> int:
        if self._shard is None:
            return 0
        qe = self._qe
        flt = self._filter(captioned_only, ()) if captioned_only else None
        return int(self._shard.count(qe.CountRequest(exact=True, filter=flt)))

    def get(self, ids: Sequence[str], vectors: Sequence[str] = ()) -> list[StoredPoint]:
        if self._shard is None or not ids:
            return []
        recs = self._shard.retrieve(
            list(ids), with_payload=True, with_vector=list(vectors) or False
        )
        return _in_order(ids, recs)

    def _filter(
        self, captioned_only: bool, exclude_ids: Sequence[str], uncaptioned_only: bool = False
    ):
        qe = self._qe
        must = [qe.HasVectorCondition(CAPTION)] if captioned_only else None
        must_not = [qe.HasIdCondition({uuid.UUID(i) for i in exclude_ids})] if exclude_ids else []
        if uncaptioned_only:
            must_not.append(qe.HasVectorCondition(CAPTION))
        must_not = must_not or None
        if must is None and must_not is None:
            return None
        return qe.Filter(must=must, must_not=must_not)

    def _request(self, s: Search):
        qe = self._qe
        flt = self._filter(s.captioned_only, s.exclude_ids, s.uncaptioned_only)
        if len(s.legs) == 1:
            leg = s.legs[0]
            return qe.QueryRequest(
                limit=s.limit,
                query=qe.Query.Nearest(self._vector(leg.vector), using=leg.using),
                filter=flt,
                with_payload=["file", "caption"],
            )
        prefetches = [
            qe.Prefetch(
                limit=leg.limit,
                query=qe.Query.Nearest(self._vector(leg.vector), using=leg.using),
                filter=flt,
            )
            for leg in s.legs
        ]
        rrf = qe.Fusion.Rrf(k=s.rrf_k, weights=list(s.weights) if s.weights else None)
        return qe.QueryRequest(
            limit=s.limit, prefetches=prefetches, query=rrf, with_payload=["file", "caption"]
        )

    def _search_batch(self, searches: Sequence[Search]) -> list[list[Hit]]:
        qe = self._qe
        results = self.shard.query_batch(qe.QueryBatchRequest([self._request(s) for s in searches]))
        return [[_hit(p) for p in res] for res in results]

    def close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None
        if not self._lock_file.closed:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()


# --------------------------------------------------------------------------- qdrant-client


class ServerStore(Store):
    """A collection on a Qdrant server through ``qdrant-client`` (or any client passed in)."""

    def __init__(self, client, collection: str = "tuwen", location: str | None = None) -> None:
        from qdrant_client import models

        self._m = models
        self.client = client
        self.collection = collection
        self.location = location or "qdrant-client"
        self._look: bool | None = None

    @classmethod
    def connect(
        cls, url: str, collection: str = "tuwen", api_key: str | None = None
    ) -> ServerStore:
        from qdrant_client import QdrantClient

        return cls(QdrantClient(url=url, api_key=api_key, timeout=60), collection, url)

    def stored_fingerprint(self) -> Fingerprint | None:
        try:
            if not self.client.collection_exists(self.collection):
                return None
            meta = self.client.get_collection(self.collection).config.metadata or {}
        except Exception as e:  # noqa: BLE001 - connection errors become one clear message
            raise StoreError(f"cannot reach Qdrant at {self.location}: {e}") from e
        if "tuwen" not in meta:
            raise StoreError(
                f"collection {self.collection!r} at {self.location} was not made by tuwen "
                "(no tuwen metadata); choose another name with TUWEN_COLLECTION"
            )
        self._look = meta["tuwen"].get("look_dim") == LOOK_DIM
        return Fingerprint.from_dict(meta["tuwen"]["fingerprint"])

    @property
    def has_look(self) -> bool:
        if self._look is None:  # read with the collection's metadata, once
            self.stored_fingerprint()
        return bool(self._look)

    def _create(self, fingerprint: Fingerprint) -> None:
        m = self._m
        dense = m.VectorParams(size=fingerprint.dim, distance=m.Distance.COSINE)
        self.client.create_collection(
            self.collection,
            vectors_config={
                IMAGE: dense,
                CAPTION: dense,
                LOOK: m.VectorParams(size=LOOK_DIM, distance=m.Distance.COSINE),
            },
            sparse_vectors_config={KEYWORDS: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            metadata={"tuwen": {"fingerprint": fingerprint.to_dict(), "look_dim": LOOK_DIM}},
        )
        self._look = True
        if self.location != ":memory:" and not self.location.startswith("local"):
            for key in ("file", "caption"):
                self.client.create_payload_index(self.collection, key, m.PayloadSchemaType.KEYWORD)

    def _vector(self, v):
        if isinstance(v, SparseVector):
            return self._m.SparseVector(indices=v.indices, values=v.values)
        return v.tolist() if isinstance(v, np.ndarray) else [float(x) for x in v]

    def upsert(self, points: Sequence[PointData]) -> None:
        if not points:
            return
        m = self._m
        out = [
            m.PointStruct(id=p.id, vector=self._named_vectors(p), payload=p.payload())
            for p in points
        ]
        self.client.upsert(self.collection, out, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self.client.delete(self.collection, self._m.PointIdsList(points=list(ids)), wait=True)

    def _scroll(self, fields: list[str], caption: str | None = None) -> Iterator[tuple[str, dict]]:
        if self.stored_fingerprint() is None:
            return
        m = self._m
        flt = None
        if caption is not None:
            flt = m.Filter(
                must=[m.FieldCondition(key="caption", match=m.MatchValue(value=caption))]
            )
        offset = None
        while True:
            recs, offset = self.client.scroll(
                self.collection,
                limit=PAGE,
                offset=offset,
                scroll_filter=flt,
                with_payload=fields,
                with_vectors=False,
            )
            for r in recs:
                yield str(r.id), dict(r.payload or {})
            if offset is None:
                return

    def count(self, captioned_only: bool = False) -> int:
        if self.stored_fingerprint() is None:
            return 0
        flt = self._filter(captioned_only, ()) if captioned_only else None
        return int(self.client.count(self.collection, count_filter=flt, exact=True).count)

    def get(self, ids: Sequence[str], vectors: Sequence[str] = ()) -> list[StoredPoint]:
        if not ids or self.stored_fingerprint() is None:
            return []
        recs = self.client.retrieve(
            self.collection, list(ids), with_payload=True, with_vectors=list(vectors) or False
        )
        return _in_order(ids, recs)

    def _filter(
        self, captioned_only: bool, exclude_ids: Sequence[str], uncaptioned_only: bool = False
    ):
        m = self._m
        must = [m.HasVectorCondition(has_vector=CAPTION)] if captioned_only else None
        must_not = [m.HasIdCondition(has_id=list(exclude_ids))] if exclude_ids else []
        if uncaptioned_only:
            must_not.append(m.HasVectorCondition(has_vector=CAPTION))
        must_not = must_not or None
        if must is None and must_not is None:
            return None
        return m.Filter(must=must, must_not=must_not)

    def _request(self, s: Search):
        m = self._m
        flt = self._filter(s.captioned_only, s.exclude_ids, s.uncaptioned_only)
        if len(s.legs) == 1:
            leg = s.legs[0]
            return m.QueryRequest(
                query=self._vector(leg.vector),
                using=leg.using,
                limit=s.limit,
                filter=flt,
                with_payload=["file", "caption"],
            )
        prefetch = [
            m.Prefetch(query=self._vector(leg.vector), using=leg.using, limit=leg.limit, filter=flt)
            for leg in s.legs
        ]
        rrf = m.RrfQuery(rrf=m.Rrf(k=s.rrf_k, weights=list(s.weights) if s.weights else None))
        return m.QueryRequest(
            prefetch=prefetch, query=rrf, limit=s.limit, with_payload=["file", "caption"]
        )

    def _search_batch(self, searches: Sequence[Search]) -> list[list[Hit]]:
        self.require()
        res = self.client.query_batch_points(self.collection, [self._request(s) for s in searches])
        return [[_hit(p) for p in r.points] for r in res]

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass


def open_store(settings) -> Store:
    """The store the settings name: a Qdrant server when ``qdrant_url`` is set, else embedded."""
    if settings.qdrant_url:
        return ServerStore.connect(
            settings.qdrant_url, settings.collection, settings.qdrant_api_key
        )
    return EdgeStore(settings.data_dir, settings.collection)
