"""Collection settings (quantization, on-disk storage) on both Qdrant backends."""

from __future__ import annotations

import dataclasses
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


@pytest.mark.parametrize("kind", ["edge", "server"])
def test_search_settings_apply_to_an_existing_collection(kind, tmp_path):
    from qdrant_client import QdrantClient

    client = QdrantClient(":memory:")
    made = CollectionConfig(quantization="int8", on_disk="vectors", oversampling=3.0, hnsw_ef=64)
    first = open_backend(kind, tmp_path, made, client)
    first.ensure(FP)
    first.upsert(random_points(30)[0])
    assert "oversampling" not in str(first.config.to_metadata())  # not recorded
    if kind == "edge":  # the server store shares the client, which closing would close
        first.close()
    wanted = CollectionConfig(explicit=False, oversampling=1.5, hnsw_ef=None)
    store = open_backend(kind, tmp_path, wanted, client)
    try:
        assert store.stored_fingerprint() == FP
        cfg = store.config
        assert (cfg.quantization, cfg.on_disk, cfg.oversampling, cfg.hnsw_ef) == (
            "int8",
            "vectors",
            1.5,
            None,
        )
        hits = store.search(Search(legs=(Leg(random_points(30)[1][4], IMAGE, limit=1),), limit=1))
        assert hits[0].file == "p00004.jpg"
    finally:
        store.close()


def test_search_params_name_oversampling_and_ef_on_both_backends():
    import qdrant_edge as qe
    from qdrant_client import models as m

    from ingest.store.config import search_params

    int8 = CollectionConfig(quantization="int8", oversampling=3.0, hnsw_ef=64)
    for params in (search_params(qe, int8), search_params(m, int8)):
        assert params.hnsw_ef == 64
        assert params.quantization.rescore and params.quantization.oversampling == 3.0
    plain = CollectionConfig(hnsw_ef=96)
    for params in (search_params(qe, plain), search_params(m, plain)):
        assert params.hnsw_ef == 96 and params.quantization is None
    defaults = CollectionConfig(hnsw_ef=None)  # Qdrant's own defaults: no params at all
    assert search_params(qe, defaults) is None and search_params(m, defaults) is None
    assert CollectionConfig().hnsw_ef == 200 and CollectionConfig().oversampling == 2.0


def test_settings_name_the_search_settings(monkeypatch):
    cfg = CollectionConfig.from_settings(Settings())
    assert (cfg.oversampling, cfg.hnsw_ef) == (2.0, 200)
    monkeypatch.setenv("TUWEN_QUANTIZATION_OVERSAMPLING", "3")
    monkeypatch.setenv("TUWEN_HNSW_EF", "0")
    cfg = CollectionConfig.from_settings(Settings())
    assert (cfg.oversampling, cfg.hnsw_ef) == (3.0, None)
    monkeypatch.setenv("TUWEN_QUANTIZATION_OVERSAMPLING", "0.5")
    with pytest.raises(ValueError, match="oversampling"):
        Settings()


def test_caption_index_is_on_disk_and_an_older_one_is_made_again(tmp_path):
    import qdrant_edge as qe

    pts, _ = random_points(40)
    pts[7] = dataclasses.replace(pts[7], caption="红色连衣裙")
    with open_backend("edge", tmp_path, None) as store:
        store.ensure(FP)
        store.upsert(pts)
        schema = store.shard.info().payload_schema
        assert schema["caption"].params.memory == qe.Memory.Cold
        assert "caption" not in store.ensure_indexes()  # made with the collection, on disk
        assert store.ensure_indexes() == []
        # a collection made before: the caption index in RAM
        store.shard.update(qe.UpdateOperation.delete_field_index("caption"))
        store.shard.update(
            qe.UpdateOperation.create_field_index("caption", qe.PayloadSchemaType.Keyword)
        )
    with open_backend("edge", tmp_path, None) as store:
        assert store.ensure_indexes() == ["caption"]
        assert store.shard.info().payload_schema["caption"].params.memory == qe.Memory.Cold
        assert [h.file for h in store.with_caption("红色连衣裙")] == ["p00007.jpg"]


def test_index_placement_on_the_server_schema():
    from qdrant_client import models as m

    from ingest.store.config import index_in_place, server_index_schema

    caption = server_index_schema(m, "caption", "keyword")
    assert caption.on_disk and index_in_place("caption", caption)
    assert not index_in_place("caption", None)  # made in RAM by an older version
    assert server_index_schema(m, "attributes.color", "keyword") == m.PayloadSchemaType.KEYWORD
    assert index_in_place("attributes.color", None)
    cold = m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, memory=m.Memory.COLD)
    assert index_in_place("caption", cold)


def test_read_ahead_reads_what_opening_reads_whole(tmp_path):
    from ingest.store.readahead import eager_files, read_ahead

    seg = tmp_path / "segments" / "s1"
    sizes = {
        "id_tracker.mappings": 10,
        "payload_index/f-map/values_to_points.bin": 20,
        "vector_index-image/links_compressed.bin": 30,
        "vector_index-keywords/inverted_index.dat": 5,
        "vector_storage-image/quantized.data": 40,
        "vector_storage-image/matrix.dat": 1000,  # originals: memory-mapped, read on use
        "payload_storage/page_0.dat": 500,  # payloads: the same
    }
    for name, size in sizes.items():
        (seg / name).parent.mkdir(parents=True, exist_ok=True)
        (seg / name).write_bytes(b"x" * size)

    def names(cfg: CollectionConfig) -> list[str]:
        return [str(p.relative_to(seg)) for p in eager_files(tmp_path, cfg)]

    assert names(INT8) == [
        "vector_storage-image/quantized.data",
        "vector_index-image/links_compressed.bin",
        "payload_index/f-map/values_to_points.bin",
        "id_tracker.mappings",
        "vector_index-keywords/inverted_index.dat",
    ]
    assert "vector_storage-image/quantized.data" not in names(CollectionConfig())
    on_disk = names(CollectionConfig(quantization="int8", on_disk="all"))
    assert "vector_index-image/links_compressed.bin" not in on_disk
    assert read_ahead(tmp_path, INT8) == 105
    assert read_ahead(tmp_path / "absent", INT8) == 0


def test_legs_of_a_rank_fusion_are_scored_by_the_int8_vectors_alone(tmp_path):
    import qdrant_edge as qe
    from qdrant_client import models as m

    from ingest.store.config import search_params

    for params in (search_params(qe, INT8, rescore=False), search_params(m, INT8, rescore=False)):
        assert params.quantization.rescore is False and params.quantization.oversampling is None
    pts, vecs = random_points(300)
    with open_backend("edge", tmp_path, INT8) as store:
        store.ensure(FP)
        store.upsert(pts)
        store.optimize()
        q = vecs[4]
        single = store._request(Search(legs=(Leg(q, IMAGE, limit=10),), limit=10))
        legs = (Leg(q, IMAGE, limit=10), Leg(q, CAPTION, limit=10))
        fused = store._request(Search(legs=legs, limit=10))
        assert single.params.quantization.rescore is True  # its scores are returned
        assert [p.params.quantization.rescore for p in fused.prefetches] == [False, False]
        assert store.search(Search(legs=legs, limit=3))[0].file == "p00004.jpg"
