"""Collection settings (quantization, on-disk storage) on both Qdrant backends."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ingest.models.fingerprint import Fingerprint
from ingest.settings import Settings
from ingest.store import (
    CAPTION,
    IMAGE,
    CollectionConfig,
    EdgeStore,
    Leg,
    PointData,
    Search,
    ServerStore,
)

DIM = 32
FP = Fingerprint("tiny-model", "rev1", DIM)
INT8 = CollectionConfig(quantization="int8", on_disk="vectors")


def open_backend(kind: str, tmp_path, config: CollectionConfig | None, client=None):
    if kind == "edge":
        return EdgeStore(tmp_path / "data", "products", config)
    from qdrant_client import QdrantClient

    return ServerStore(client or QdrantClient(":memory:"), "products", ":memory:", config)


def random_points(n: int, seed: int = 0) -> tuple[list[PointData], np.ndarray]:
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    pts = [
        PointData(
            file=f"p{i:05d}.jpg",
            caption=None,
            image=v,
            caption_vector=v,
            keywords=None,
            hash=f"h{i}",
            image_hash=f"i{i}",
            ingested_at="2026-01-01T00:00:00+00:00",
        )
        for i, v in enumerate(vecs)
    ]
    return pts, vecs


@pytest.mark.parametrize("kind", ["edge", "server"])
def test_quantized_collection_finds_the_exact_top_hits(kind, tmp_path):
    pts, vecs = random_points(1500)
    queries = np.random.default_rng(1).standard_normal((20, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    store = open_backend(kind, tmp_path, INT8)
    try:
        store.ensure(FP)
        store.upsert(pts)
        store.optimize()
        assert store.config.quantized
        searches = [Search(legs=(Leg(q, IMAGE, limit=10),), limit=10) for q in queries]
        found = store.search_batch(searches)
    finally:
        store.close()
    recall = []
    for q, hits in zip(queries, found, strict=True):
        exact = {f"p{i:05d}.jpg" for i in np.argsort(-(vecs @ q))[:10]}
        recall.append(len(exact & {h.file for h in hits}) / 10)
    assert np.mean(recall) >= 0.95


def test_edge_collection_keeps_its_settings_and_reports_a_mismatch(tmp_path, caplog):
    pts, _ = random_points(50)
    with open_backend("edge", tmp_path, INT8) as store:
        store.ensure(FP)
        store.upsert(pts)
    with caplog.at_level(logging.WARNING, logger="tuwen"):
        store = open_backend("edge", tmp_path, CollectionConfig())
    try:
        assert store.config == INT8  # the stored settings win
        assert "TUWEN_QUANTIZATION=int8" in caplog.text and "none/none" in caplog.text
    finally:
        store.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tuwen"):  # settings that name no storage
        store = open_backend("edge", tmp_path, CollectionConfig(explicit=False))
    try:
        assert store.config == INT8 and "TUWEN_QUANTIZATION" not in caplog.text
        hits = store.search(Search(legs=(Leg(pts[3].image, CAPTION, limit=1),), limit=1))
        assert hits[0].file == "p00003.jpg"
    finally:
        store.close()


def test_server_collection_records_settings_and_an_old_one_reads_as_unquantized(tmp_path, caplog):
    from qdrant_client import QdrantClient

    client = QdrantClient(":memory:")
    first = open_backend("server", tmp_path, INT8, client)
    first.ensure(FP)
    again = open_backend("server", tmp_path, CollectionConfig(), client)
    with caplog.at_level(logging.WARNING, logger="tuwen"):
        assert again.stored_fingerprint() == FP
    assert again.config == INT8 and "int8" in caplog.text
    assert CollectionConfig.from_metadata({"fingerprint": {}}) == CollectionConfig()


def test_settings_name_the_collection_config(monkeypatch):
    assert not CollectionConfig.from_settings(Settings()).explicit
    monkeypatch.setenv("TUWEN_QUANTIZATION", "int8")
    monkeypatch.setenv("TUWEN_ON_DISK", "all")
    monkeypatch.setenv("TUWEN_QDRANT_SHARDS", "6")
    monkeypatch.setenv("TUWEN_QDRANT_REPLICAS", "2")
    cfg = CollectionConfig.from_settings(Settings())
    assert (cfg.quantization, cfg.on_disk, cfg.shards, cfg.replicas) == ("int8", "all", 6, 2)
    monkeypatch.setenv("TUWEN_QUANTIZATION", "int4")
    with pytest.raises(ValueError, match="quantization"):
        Settings()
