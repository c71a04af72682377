"""A collection on a Qdrant server through ``qdrant-client`` (or any client passed in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.keywords import SparseVector
from ingest.models.fingerprint import Fingerprint
from ingest.store.base import RETURNED_PAYLOAD, Store, StoreError
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


class ServerStore(Store):
    """A collection on a Qdrant server through ``qdrant-client`` (or any client passed in).

    Args:
        client: A ``QdrantClient`` (``QdrantClient(":memory:")`` in tests).
        collection: The collection name (``TUWEN_COLLECTION``).
        location: Where the client points, for messages (the URL).
    """

    def __init__(self, client: Any, collection: str = "tuwen", location: str | None = None) -> None:
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
        """A store on the Qdrant server at ``url`` (``TUWEN_QDRANT_URL``)."""
        from qdrant_client import QdrantClient

        return cls(QdrantClient(url=url, api_key=api_key, timeout=60), collection, url)

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
        return fingerprint

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
            metadata={"tuwen": collection_metadata(fingerprint)},
        )
        self._look = True
        if self.location != ":memory:" and not self.location.startswith("local"):
            for key in ("file", "caption"):
                self.client.create_payload_index(self.collection, key, m.PayloadSchemaType.KEYWORD)

    def _sparse(self, v: SparseVector) -> Any:
        return self._m.SparseVector(indices=v.indices, values=v.values)

    def _has_vector(self, name: str) -> Any:
        return self._m.HasVectorCondition(has_vector=name)

    def _has_ids(self, ids: Sequence[str]) -> Any:
        return self._m.HasIdCondition(has_id=list(ids))

    def _caption_is(self, caption: str) -> Any:
        return self._m.FieldCondition(key="caption", match=self._m.MatchValue(value=caption))

    def _filter_of(self, must: list | None, must_not: list | None) -> Any:
        return self._m.Filter(must=must, must_not=must_not)

    def _nearest(self, leg: Leg, limit: int, flt: Any) -> Any:
        return self._m.QueryRequest(
            query=self._vector(leg.vector),
            using=leg.using,
            limit=limit,
            filter=flt,
            with_payload=RETURNED_PAYLOAD,
        )

    def _fused(self, s: Search, flt: Any) -> Any:
        m = self._m
        prefetch = [
            m.Prefetch(query=self._vector(leg.vector), using=leg.using, limit=leg.limit, filter=flt)
            for leg in s.legs
        ]
        rrf = m.RrfQuery(rrf=m.Rrf(k=s.rrf_k, weights=list(s.weights) if s.weights else None))
        return m.QueryRequest(
            prefetch=prefetch, query=rrf, limit=s.limit, with_payload=RETURNED_PAYLOAD
        )

    def _upsert(self, points: Sequence[PointData]) -> None:
        m = self._m
        out = [
            m.PointStruct(id=p.id, vector=self._named_vectors(p), payload=p.payload())
            for p in points
        ]
        self.client.upsert(self.collection, out, wait=True)

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
