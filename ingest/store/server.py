"""A collection on a Qdrant server through ``qdrant-client`` (or any client passed in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.keywords import SparseVector
from ingest.models.fingerprint import Fingerprint
from ingest.store.base import Store
from ingest.store.config import (
    CollectionConfig,
    index_in_place,
    report_mismatch,
    search_params,
    server_collection,
    server_index_schema,
    server_vector,
)
from ingest.store.records import StoreError
from ingest.store.schema import (
    CAPTION,
    IMAGE,
    INDEXED,
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


class ServerStore(Store):
    """A collection on a Qdrant server through ``qdrant-client`` (or any client passed in).

    Args:
        client: A ``QdrantClient`` (``QdrantClient(":memory:")`` in tests).
        collection: The collection name (``TUWEN_COLLECTION``).
        location: Where the client points, for messages (the URL).
        config: Settings of a collection created here (quantization, on-disk storage, shards,
            replicas); an existing collection keeps its own (a difference is logged).
    """

    def __init__(
        self,
        client: Any,
        collection: str = "tuwen",
        location: str | None = None,
        config: CollectionConfig | None = None,
    ) -> None:
        from qdrant_client import models

        self._m = models
        self.client = client
        self.collection = collection
        self.location = location or "qdrant-client"
        self._look: bool | None = None
        self._meta: dict = {}
        self._wanted = config or CollectionConfig(explicit=False)
        self.config = self._wanted
        self._reported = False

    @classmethod
    def connect(
        cls,
        url: str,
        collection: str = "tuwen",
        api_key: str | None = None,
        config: CollectionConfig | None = None,
    ) -> ServerStore:
        """A store on the Qdrant server at ``url`` (``TUWEN_QDRANT_URL``)."""
        from qdrant_client import QdrantClient

        client = QdrantClient(url=url, api_key=api_key, timeout=60)
        return cls(client, collection, url, config)

    def stored_fingerprint(self) -> Fingerprint | None:
        """The fingerprint stored with the collection, or ``None`` if it does not exist.

        Raises:
            StoreError: the server cannot be reached, or the collection was not made by tuwen.
        """
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
        fingerprint, self._look = read_metadata(meta["tuwen"])
        self._meta = dict(meta["tuwen"])
        self.config = CollectionConfig.from_metadata(self._meta).searching_as(self._wanted)
        if not self._reported:
            where = f"{self.collection!r} at {self.location}"
            self._reported = report_mismatch(self.config, self._wanted, where)
        return fingerprint

    @property
    def _local(self) -> bool:
        """qdrant-client's local mode (``:memory:`` or a path), which has no payload indexes."""
        return self.location == ":memory:" or self.location.startswith("local")

    @property
    def has_look(self) -> bool:
        if self._look is None:  # read with the collection's metadata, once
            self.stored_fingerprint()
        return bool(self._look)

    def _create(self, fingerprint: Fingerprint) -> None:
        m = self._m
        cfg = self._wanted
        dense = server_vector(m, fingerprint.dim, cfg)
        meta = {**collection_metadata(fingerprint), **cfg.to_metadata()}
        self.client.create_collection(
            self.collection,
            vectors_config={IMAGE: dense, CAPTION: dense, LOOK: server_vector(m, LOOK_DIM, cfg)},
            sparse_vectors_config={KEYWORDS: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            metadata={"tuwen": meta},
            **server_collection(m, cfg),
        )
        self._look = True
        self._meta = meta
        self.config = cfg
        if not self._local:
            for key in ("file", "caption"):  # the rest: ``ensure_indexes``, by writers
                schema = server_index_schema(m, key, "keyword")
                self.client.create_payload_index(self.collection, key, schema)

    def _sparse(self, v: SparseVector) -> Any:
        return self._m.SparseVector(indices=v.indices, values=v.values)

    def _has_vector(self, name: str) -> Any:
        return self._m.HasVectorCondition(has_vector=name)

    def _has_ids(self, ids: Sequence[str]) -> Any:
        return self._m.HasIdCondition(has_id=list(ids))

    def _match(self, key: str, value: str) -> Any:
        return self._m.FieldCondition(key=key, match=self._m.MatchValue(value=value))

    def _match_any(self, key: str, values: Sequence[str]) -> Any:
        return self._m.FieldCondition(key=key, match=self._m.MatchAny(any=list(values)))

    def _is_empty(self, key: str) -> Any:
        return self._m.IsEmptyCondition(is_empty=self._m.PayloadField(key=key))

    def _query_groups(self, request: Any, key: str, groups: int, size: int) -> list[list]:
        """Qdrant's ``query_points_groups`` of a request made by ``_nearest`` / ``_fused``."""
        found = self.client.query_points_groups(
            self.collection,
            key,
            query=request.query,
            using=request.using,
            prefetch=request.prefetch,
            query_filter=request.filter,
            search_params=request.params,
            limit=groups,
            group_size=size,
            with_payload=request.with_payload,
        )
        return [g.hits for g in found.groups]

    def _facet(self, key: str, limit: int, flt: Any) -> list[tuple[str, int]]:
        found = self.client.facet(self.collection, key, facet_filter=flt, limit=limit, exact=True)
        return [(str(h.value), int(h.count)) for h in found.hits]

    def _filter_of(
        self, must: list | None, must_not: list | None, min_should: tuple[list, int] | None = None
    ) -> Any:
        m = self._m
        least = (
            m.MinShould(conditions=min_should[0], min_count=min_should[1]) if min_should else None
        )
        return m.Filter(must=must, must_not=must_not, min_should=least)

    def _formula(self, leg: Leg) -> Any:
        """Σ weight · [attribute agrees] + similarity · the prefetch's score."""
        m = self._m
        agree = leg.agree
        assert agree is not None
        terms: list = [m.MultExpression(mult=[agree.similarity, "$score"])]
        terms += [
            m.MultExpression(mult=[w, self._match(f"{agree.key}.{f}", v)])
            for f, v, w in agree.values
        ]
        return m.FormulaQuery(formula=m.SumExpression(sum=terms))

    def _stage(self, leg: Leg, limit: int, flt: Any, rescore: bool = True) -> dict:
        """A leg's query, ``using`` and prefetch: a nearest query, or an agreement formula over
        the filtered nearest candidates; in a quantized collection rescored unless ``rescore``
        is off (a leg of a rank fusion)."""
        m = self._m
        exact = leg.using == KEYWORDS or self._local  # local mode always searches exactly
        params = None if exact else search_params(m, self.config, rescore=rescore)
        if leg.agree is None:
            return {
                "query": self._vector(leg.vector),
                "using": leg.using,
                "filter": flt,
                "params": params,
            }
        pool = m.Prefetch(
            query=self._vector(leg.vector),
            using=leg.using,
            limit=max(limit, leg.agree.pool),
            filter=flt,
            params=params,
        )
        return {"query": self._formula(leg), "prefetch": [pool]}

    def _nearest(self, leg: Leg, limit: int, flt: Any, fields: list[str]) -> Any:
        return self._m.QueryRequest(
            limit=limit, with_payload=fields, **self._stage(leg, limit, flt)
        )

    def _fused(self, s: Search, flts: list, fields: list[str]) -> Any:
        m = self._m
        prefetch = [
            m.Prefetch(limit=leg.limit, **self._stage(leg, leg.limit, flt, rescore=False))
            for leg, flt in zip(s.legs, flts, strict=True)
        ]
        rrf = m.RrfQuery(rrf=m.Rrf(k=s.rrf_k, weights=list(s.weights) if s.weights else None))
        return m.QueryRequest(prefetch=prefetch, query=rrf, limit=s.limit, with_payload=fields)

    def _upsert(self, points: Sequence[PointData]) -> None:
        m = self._m
        out = [
            m.PointStruct(id=p.id, vector=self._named_vectors(p), payload=p.payload())
            for p in points
        ]
        self.client.upsert(self.collection, out, wait=True)

    def _set_payloads(self, updates: Sequence[tuple[str, dict]]) -> None:
        m = self._m
        ops: list = []
        for pid, fields in updates:
            kept = {k: v for k, v in fields.items() if v is not None}
            gone = [k for k, v in fields.items() if v is None]
            if kept:
                ops.append(
                    m.SetPayloadOperation(set_payload=m.SetPayload(payload=kept, points=[pid]))
                )
            if gone:
                ops.append(
                    m.DeletePayloadOperation(
                        delete_payload=m.DeletePayload(keys=gone, points=[pid])
                    )
                )
        for start in range(0, len(ops), 512):
            self.client.batch_update_points(self.collection, ops[start : start + 512], wait=True)

    def _indexed(self) -> set[str]:
        if self._local:  # local mode keeps no payload indexes: nothing to create
            return set(INDEXED)
        schema = self.client.get_collection(self.collection).payload_schema or {}
        return {key for key, info in schema.items() if index_in_place(key, info.params)}

    def _create_index(self, key: str, kind: str) -> None:
        schema = server_index_schema(self._m, key, kind)
        self.client.create_payload_index(self.collection, key, schema, wait=True)

    def _metadata(self) -> dict:
        return self._meta

    def _write_metadata(self, meta: dict) -> None:
        self.client.update_collection(self.collection, metadata={"tuwen": meta})
        self._meta = dict(meta)

    def _delete(self, ids: list[str]) -> None:
        self.client.delete(self.collection, self._m.PointIdsList(points=ids), wait=True)

    def _scroll_page(self, fields: list[str], flt: Any, offset: Any) -> tuple[list, Any]:
        return self.client.scroll(
            self.collection,
            limit=PAGE,
            offset=offset,
            scroll_filter=flt,
            with_payload=fields,
            with_vectors=False,
        )

    def _count(self, flt: Any) -> int:
        return int(self.client.count(self.collection, count_filter=flt, exact=True).count)

    def _retrieve(self, ids: list[str], vectors: list[str]) -> list:
        return self.client.retrieve(
            self.collection, ids, with_payload=True, with_vectors=vectors or False
        )

    def _query_batch(self, requests: list) -> list[list]:
        return [r.points for r in self.client.query_batch_points(self.collection, requests)]

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a dropped connection must not fail
            pass
