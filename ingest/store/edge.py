"""Qdrant Edge (``qdrant-edge-py``): the Qdrant engine in-process, the default store."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.atomic import write_json_atomic
from ingest.keywords import SparseVector
from ingest.models.fingerprint import Fingerprint
from ingest.store.base import Store
from ingest.store.config import (
    CollectionConfig,
    edge_collection,
    edge_index_schema,
    edge_vector,
    index_in_place,
    report_mismatch,
    search_params,
)
from ingest.store.readahead import read_ahead
from ingest.store.records import StoreLocked
from ingest.store.schema import (
    CAPTION,
    IMAGE,
    KEYWORDS,
    LOOK,
    LOOK_DIM,
    PAGE,
    Leg,
    PointData,
    Search,
    collection_metadata,
    read_metadata,
)

META = "tuwen.json"  # the collection's metadata, beside its shard


class EdgeStore(Store):
    """Qdrant Edge in-process, one shard per collection under ``data_dir/collections/NAME``.

    The directory is locked while open: a second process gets :class:`StoreLocked`. Opening
    reads the files Qdrant Edge loads whole into the page cache first
    (:mod:`ingest.store.readahead`).

    Args:
        data_dir: The store's folder (``TUWEN_DATA_DIR``); created if absent.
        collection: The collection name (``TUWEN_COLLECTION``).
        config: Settings of a collection created here (quantization, on-disk storage); an
            existing collection keeps its own (a difference is logged).

    Raises:
        StoreLocked: another process has the collection open.
    """

    def __init__(
        self,
        data_dir: str | Path,
        collection: str = "tuwen",
        config: CollectionConfig | None = None,
    ) -> None:
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
        self._meta: dict = {}
        self._wanted = config or CollectionConfig(explicit=False)
        self.config = self._wanted
        meta = self.root / META
        if meta.exists():
            self._meta = json.loads(meta.read_text("utf-8"))
            self._fp, self._look = read_metadata(self._meta)
            self.config = CollectionConfig.from_metadata(self._meta).searching_as(self._wanted)
            report_mismatch(self.config, self._wanted, f"{collection!r} at {self.data_dir}")
            if self._shard_dir.exists():
                read_ahead(self._shard_dir, self.config)
                self._shard = qe.EdgeShard.load(str(self._shard_dir))

    @property
    def _shard_dir(self) -> Path:
        return self.root / "shard"

    def stored_fingerprint(self) -> Fingerprint | None:
        return self._fp if self._shard is not None else None

    @property
    def has_look(self) -> bool:
        return self._look and self._shard is not None

    @property
    def shard(self) -> Any:
        """The open Qdrant Edge shard.

        Raises:
            StoreError: there is no collection.
        """
        if self._shard is None:
            self.require()
        return self._shard

    def _create(self, fingerprint: Fingerprint) -> None:
        qe = self._qe
        tmp = self.root / "shard.creating"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(self._shard_dir, ignore_errors=True)  # only reachable without metadata
        cfg = self._wanted
        config = qe.EdgeConfig(
            vectors={
                IMAGE: edge_vector(qe, fingerprint.dim, cfg),
                CAPTION: edge_vector(qe, fingerprint.dim, cfg),
                LOOK: edge_vector(qe, LOOK_DIM, cfg),
            },
            sparse_vectors={KEYWORDS: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            **edge_collection(qe, cfg),
        )
        shard = qe.EdgeShard.create(str(tmp), config)
        # Points are found by id, so a ``file`` index would only cost upsert and load time.
        # The other indexes are made by writers (``ensure_indexes``): each costs a sync to disk.
        caption = edge_index_schema(qe, "caption", "keyword")
        shard.update(qe.UpdateOperation.create_field_index("caption", caption))
        shard.flush()
        shard.close()
        self._meta = {
            "collection": self.collection,
            **collection_metadata(fingerprint),
            **cfg.to_metadata(),
        }
        write_json_atomic(self.root / META, self._meta)
        os.replace(tmp, self._shard_dir)
        self._shard = qe.EdgeShard.load(str(self._shard_dir))
        self._fp = fingerprint
        self._look = True
        self.config = cfg

    def _sparse(self, v: SparseVector) -> Any:
        return self._qe.SparseVector(v.indices, v.values)

    def _has_vector(self, name: str) -> Any:
        return self._qe.HasVectorCondition(name)

    def _has_ids(self, ids: Sequence[str]) -> Any:
        return self._qe.HasIdCondition({uuid.UUID(i) for i in ids})

    def _match(self, key: str, value: str) -> Any:
        return self._qe.FieldCondition(key=key, match=self._qe.MatchValue(value))

    def _match_any(self, key: str, values: Sequence[str]) -> Any:
        return self._qe.FieldCondition(key=key, match=self._qe.MatchAny(list(values)))

    def _is_empty(self, key: str) -> Any:
        return self._qe.IsEmptyCondition(key)

    def _facet(self, key: str, limit: int, flt: Any) -> list[tuple[str, int]]:
        request = self._qe.FacetRequest(key, limit=limit, exact=True, filter=flt)
        return [(str(h.value), int(h.count)) for h in self.shard.facet(request).hits]

    def _filter_of(
        self, must: list | None, must_not: list | None, min_should: tuple[list, int] | None = None
    ) -> Any:
        qe = self._qe
        least = qe.MinShould(min_should[0], min_should[1]) if min_should else None
        return qe.Filter(must=must, must_not=must_not, min_should=least)

    def _query(self, leg: Leg) -> Any:
        return self._qe.Query.Nearest(self._vector(leg.vector), using=leg.using)

    def _formula(self, leg: Leg) -> Any:
        """Σ weight · [attribute agrees] + similarity · the prefetch's score."""
        E = self._qe.Expression
        agree = leg.agree
        assert agree is not None
        terms = [E.Mult([E.Constant(agree.similarity), E.Variable("$score")])]
        terms += [
            E.Mult([E.Constant(w), E.Condition(self._match(f"{agree.key}.{f}", v))])
            for f, v, w in agree.values
        ]
        return self._qe.Formula(E.Sum(terms), defaults={"$score": 0.0})

    def _params(self, leg: Leg, rescore: bool = True) -> Any:
        """Search params of a dense leg (``hnsw_ef``; rescoring in a quantized collection
        unless a rank fusion reads only its order), else ``None``."""
        if leg.using == KEYWORDS:
            return None
        return search_params(self._qe, self.config, rescore=rescore)

    def _stage(
        self, leg: Leg, limit: int, flt: Any, rescore: bool = True
    ) -> tuple[Any, list | None]:
        """A leg's query and its prefetches: a nearest query, or an agreement formula over
        the filtered nearest candidates (rescored unless ``rescore`` is off)."""
        qe = self._qe
        if leg.agree is None:
            return self._query(leg), None
        pool = qe.Prefetch(
            limit=max(limit, leg.agree.pool),
            query=self._query(leg),
            filter=flt,
            params=self._params(leg, rescore),
        )
        return self._formula(leg), [pool]

    def _nearest(self, leg: Leg, limit: int, flt: Any, fields: list[str]) -> Any:
        query, pool = self._stage(leg, limit, flt)
        return self._qe.QueryRequest(
            limit=limit,
            query=query,
            prefetches=pool,
            filter=None if pool else flt,
            with_payload=fields,
            params=None if pool else self._params(leg),
        )

    def _fused(self, s: Search, flts: list, fields: list[str]) -> Any:
        qe = self._qe
        prefetches = []
        for leg, flt in zip(s.legs, flts, strict=True):
            query, pool = self._stage(leg, leg.limit, flt, rescore=False)
            prefetches.append(
                qe.Prefetch(
                    limit=leg.limit,
                    query=query,
                    prefetches=pool,
                    filter=None if pool else flt,
                    params=None if pool else self._params(leg, rescore=False),
                )
            )
        rrf = qe.Fusion.Rrf(k=s.rrf_k, weights=list(s.weights) if s.weights else None)
        return qe.QueryRequest(limit=s.limit, prefetches=prefetches, query=rrf, with_payload=fields)

    def _upsert(self, points: Sequence[PointData]) -> None:
        qe = self._qe
        out = [qe.Point(p.id, self._named_vectors(p), p.payload()) for p in points]
        self.shard.update(qe.UpdateOperation.upsert_points(out))

    def _set_payloads(self, updates: Sequence[tuple[str, dict]]) -> None:
        op = self._qe.UpdateOperation
        for pid, fields in updates:
            gone = [k for k, v in fields.items() if v is None]
            kept = {k: v for k, v in fields.items() if v is not None}
            if kept:
                self.shard.update(op.set_payload([pid], kept))
            if gone:
                self.shard.update(op.delete_payload([pid], gone))

    def _indexed(self) -> set[str]:
        schema = self.shard.info().payload_schema
        return {key for key, info in schema.items() if index_in_place(key, info.params)}

    def _create_index(self, key: str, kind: str) -> None:
        schema = edge_index_schema(self._qe, key, kind)
        self.shard.update(self._qe.UpdateOperation.create_field_index(key, schema))

    def _metadata(self) -> dict:
        return self._meta

    def _write_metadata(self, meta: dict) -> None:
        write_json_atomic(self.root / META, meta)
        self._meta = dict(meta)

    def _delete(self, ids: list[str]) -> None:
        self.shard.update(self._qe.UpdateOperation.delete_points(ids))

    def _scroll_page(self, fields: list[str], flt: Any, offset: Any) -> tuple[list, Any]:
        request = self._qe.ScrollRequest(
            offset=offset, limit=PAGE, filter=flt, with_payload=fields, with_vector=False
        )
        return self.shard.scroll(request)

    def _count(self, flt: Any) -> int:
        return int(self.shard.count(self._qe.CountRequest(exact=True, filter=flt)))

    def _retrieve(self, ids: list[str], vectors: list[str]) -> list:
        return self.shard.retrieve(ids, with_payload=True, with_vector=vectors or False)

    def _query_batch(self, requests: list) -> list[list]:
        return self.shard.query_batch(self._qe.QueryBatchRequest(requests))

    def optimize(self) -> bool:
        """Qdrant Edge indexes only when asked: until then every search scans all vectors
        (100k points: ~27 ms per hybrid query on 2 cores, ~5 ms once HNSW is built; the build
        takes minutes at that size). Small collections stay below the indexing threshold and
        return at once."""
        if self._shard is None:
            return False
        return bool(self._shard.optimize())

    def close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None
        if not self._lock_file.closed:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
