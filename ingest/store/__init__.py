"""The vector store: one small interface, two Qdrant backends.

- :class:`EdgeStore` — Qdrant Edge (``qdrant-edge-py``), the Qdrant engine in-process,
  stored under ``TUWEN_DATA_DIR`` (default ``./tuwen-data``); the default.
- :class:`ServerStore` — ``qdrant-client`` against a Qdrant server (``TUWEN_QDRANT_URL``),
  or any ``QdrantClient`` passed in (``QdrantClient(":memory:")`` in tests).

The point layout is in :mod:`ingest.store.schema`, the interface in :mod:`ingest.store.base`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.store.base import Store
from ingest.store.config import CollectionConfig
from ingest.store.edge import EdgeStore
from ingest.store.records import ModelMismatch, StoreError, StoreLocked
from ingest.store.schema import (
    CAPTION,
    IMAGE,
    INDEXED,
    KEYWORDS,
    LOOK,
    VARIANT,
    Agree,
    Leg,
    PointData,
    Search,
    StoredEntry,
    StoredPoint,
    point_id,
)
from ingest.store.server import ServerStore

if TYPE_CHECKING:
    from ingest.settings import Settings

__all__ = [
    "CAPTION",
    "INDEXED",
    "IMAGE",
    "KEYWORDS",
    "LOOK",
    "VARIANT",
    "Agree",
    "CollectionConfig",
    "EdgeStore",
    "Leg",
    "ModelMismatch",
    "PointData",
    "Search",
    "ServerStore",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoredEntry",
    "StoredPoint",
    "open_store",
    "point_id",
]


def open_store(settings: Settings) -> Store:
    """The store the settings name: a Qdrant server when ``qdrant_url`` is set, else embedded.

    Args:
        settings: Read for ``qdrant_url``, ``qdrant_api_key``, ``collection``, ``data_dir``
            and the settings of new collections (:class:`CollectionConfig`).
    """
    config = CollectionConfig.from_settings(settings)
    if settings.qdrant_url:
        return ServerStore.connect(
            settings.qdrant_url, settings.collection, settings.qdrant_api_key, config
        )
    return EdgeStore(settings.data_dir, settings.collection, config)
