"""One contract suite, run on both Qdrant backends (Edge embedded, qdrant-client in memory)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ingest.keywords import sparse_vector
from ingest.look import DIM as LOOK_DIM
from ingest.look import LOOK
from ingest.models.fingerprint import Fingerprint
from ingest.store import (
    CAPTION,
    IMAGE,
    KEYWORDS,
    EdgeStore,
    Leg,
    ModelMismatch,
    PointData,
    Search,
    ServerStore,
    StoreError,
    StoreLocked,
    point_id,
)

FP = Fingerprint("tiny-model", "rev1", 4)


def unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def point(file: str, image, caption: str | None = None, cap_vec=None, h: str = "h") -> PointData:
    return PointData(
        file=file,
        caption=caption,
        image=unit(*image),
        caption_vector=None if cap_vec is None else unit(*cap_vec),
        keywords=sparse_vector(caption) if caption else None,
        hash=h + file,
        image_hash="i" + file,
        ingested_at="2026-01-01T00:00:00+00:00",
    )


POINTS = [
    point("a.jpg", (1, 0, 0, 0), "男士黑色衬衫", (1, 0.1, 0, 0)),
    point("b.jpg", (0.9, 0.1, 0, 0), "女士红色连衣裙", (0, 1, 0, 0)),
    point("sub/c.jpg", (0, 0, 1, 0)),
    point("d.jpg", (0, 0, 0.2, 1), "男士白色运动鞋", (0, 0, 0, 1)),
]


@pytest.fixture(params=["edge", "server"])
def store(request, tmp_path):
    if request.param == "edge":
        s = EdgeStore(tmp_path / "data", "products")
    else:
        from qdrant_client import QdrantClient

        s = ServerStore(QdrantClient(":memory:"), "products", location=":memory:")
    yield s
    s.close()


@pytest.fixture
def filled(store):
    store.ensure(FP)
    store.upsert(POINTS)
    return store


def test_new_collection_has_no_fingerprint_until_created(store):
    assert store.stored_fingerprint() is None
    assert store.count() == 0
    with pytest.raises(StoreError, match="tuwen ingest"):
        store.require()
    store.ensure(FP)
    assert store.stored_fingerprint() == FP
    store.ensure(FP)  # same model: accepted


def test_reading_a_missing_collection_finds_nothing_and_searching_it_says_what_to_do(store):
    assert store.get([point_id("a.jpg")]) == [] and store.get_file("a.jpg") is None
    assert store.manifest() == {} and store.entries([point_id("a.jpg")]) == {}
    assert store.with_caption("男士黑色衬衫") == []
    assert store.count(captioned_only=True) == 0 and not store.has_look
    with pytest.raises(StoreError, match="tuwen ingest"):
        store.search(Search((Leg(unit(1, 0, 0, 0), IMAGE, 10),), limit=1))
    assert store.search_batch([]) == []


def test_scrolling_pages_through_more_points_than_one_page(store, monkeypatch):
    import ingest.store.edge
    import ingest.store.server

    for module in (ingest.store.edge, ingest.store.server):
        monkeypatch.setattr(module, "PAGE", 3)
    store.ensure(FP)
    files = [f"p{i:02d}.jpg" for i in range(8)]
    store.upsert([point(f, (1, i, 0, 0), "男士衬衫", (1, i, 0, 0)) for i, f in enumerate(files)])
    assert sorted(e.file for e in store.manifest().values()) == files
    assert len(store.with_caption("男士衬衫", limit=7)) == 7


def test_other_model_is_refused_with_advice(filled):
    with pytest.raises(ModelMismatch, match="--clip-model"):
        filled.ensure(Fingerprint("other-model", "rev1", 4))
    with pytest.raises(ModelMismatch):
        filled.ensure(Fingerprint("tiny-model", "rev2", 4))


def test_counts_and_manifest(filled):
    assert filled.count() == 4
    assert filled.count(captioned_only=True) == 3
    m = filled.manifest()
    assert set(m) == {point_id(p.file) for p in POINTS}
    assert m[point_id("sub/c.jpg")].file == "sub/c.jpg"
    assert m[point_id("a.jpg")].hash == "ha.jpg"
    assert m[point_id("a.jpg")].image_hash == "ia.jpg"


def test_upsert_same_file_replaces_instead_of_duplicating(filled):
    filled.upsert([point("a.jpg", (0, 1, 0, 0), "男士蓝色衬衫", (0, 1, 0, 0), h="new")])
    assert filled.count() == 4
    got = filled.get_file("a.jpg", [IMAGE, CAPTION])
    assert got.caption == "男士蓝色衬衫"
    assert got.payload["hash"] == "newa.jpg"
    assert np.allclose(got.vectors[IMAGE], unit(0, 1, 0, 0), atol=1e-6)


def test_get_returns_vectors_and_skips_missing(filled):
    got = filled.get(
        [point_id("d.jpg"), point_id("nope.jpg"), point_id("sub/c.jpg")], [IMAGE, KEYWORDS]
    )
    assert [g.file for g in got] == ["d.jpg", "sub/c.jpg"]
    assert np.allclose(got[0].vectors[IMAGE], unit(0, 0, 0.2, 1), atol=1e-6)
    assert got[0].vectors[KEYWORDS].indices == sparse_vector("男士白色运动鞋").indices
    assert got[1].caption is None and KEYWORDS not in got[1].vectors
    assert filled.get_file("nope.jpg") is None


def test_delete(filled):
    filled.delete([point_id("a.jpg"), point_id("sub/c.jpg")])
    assert filled.count() == 2
    assert filled.get_file("a.jpg") is None


def test_nearest_order_and_filters(filled):
    hits = filled.search(Search((Leg(unit(1, 0, 0, 0), IMAGE, 10),), limit=4))
    assert [h.file for h in hits][:2] == ["a.jpg", "b.jpg"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].caption == "男士黑色衬衫"
    only = filled.search(Search((Leg(unit(0, 0, 1, 0), IMAGE, 10),), limit=4, captioned_only=True))
    assert "sub/c.jpg" not in [h.file for h in only] and len(only) == 3
    excl = filled.search(
        Search((Leg(unit(1, 0, 0, 0), IMAGE, 10),), limit=4, exclude_ids=(point_id("a.jpg"),))
    )
    assert excl[0].file == "b.jpg"


def test_sparse_keywords_leg(filled):
    hits = filled.search(Search((Leg(sparse_vector("白色运动鞋"), KEYWORDS, 10),), limit=3))
    assert hits[0].file == "d.jpg"
    assert all(h.caption for h in hits)  # only captioned points have keywords


def test_rrf_fusion_rewards_agreement(filled):
    # the image leg returns only a; the keyword and caption legs rank b first: b wins 2 votes to 1.
    legs = (
        Leg(unit(1, 0, 0, 0), IMAGE, 1),
        Leg(sparse_vector("女士红色连衣裙"), KEYWORDS, 2),
        Leg(unit(0, 1, 0, 0), CAPTION, 2),
    )
    hits = filled.search(Search(legs, limit=4))
    assert hits[0].file == "b.jpg"
    assert hits[0].score > hits[1].score


def test_batch_search_keeps_order(filled):
    res = filled.search_batch(
        [
            Search((Leg(unit(0, 0, 0, 1), IMAGE, 5),), limit=1),
            Search((Leg(unit(1, 0, 0, 0), IMAGE, 5),), limit=1),
        ]
    )
    assert [r[0].file for r in res] == ["d.jpg", "a.jpg"]


def test_edge_persists_and_locks(tmp_path):
    s = EdgeStore(tmp_path / "d", "c")
    s.ensure(FP)
    s.upsert(POINTS)
    with pytest.raises(StoreLocked, match="--via"):
        EdgeStore(tmp_path / "d", "c")
    s.close()
    s2 = EdgeStore(tmp_path / "d", "c")
    assert s2.stored_fingerprint() == FP
    assert s2.count() == 4 and s2.count(captioned_only=True) == 3
    with pytest.raises(ModelMismatch):
        s2.ensure(Fingerprint("x", "y", 4))
    s2.close()


def test_exact_caption_lookup(filled):
    filled.upsert([point("e.jpg", (0, 1, 1, 0), "男士黑色衬衫", (1, 0.1, 0, 0))])
    found = filled.with_caption("男士黑色衬衫")
    assert sorted(h.file for h in found) == ["a.jpg", "e.jpg"] and all(
        h.score == 1.0 for h in found
    )
    assert (
        filled.with_caption("男士黑色") == []
        and len(filled.with_caption("男士黑色衬衫", limit=1)) == 1
    )


def test_uncaptioned_only_filter(filled):
    hits = filled.search(
        Search((Leg(unit(1, 0, 0, 0), IMAGE, 10),), limit=4, uncaptioned_only=True)
    )
    assert [h.file for h in hits] == ["sub/c.jpg"]


def looked(file: str, image, look_hot: int, caption: str = "男士衬衫") -> PointData:
    """A captioned point whose look vector is one-hot (at ``look_hot``) plus a little noise."""
    look = np.full(LOOK_DIM, 0.01, dtype=np.float32)
    look[look_hot] = 1.0
    p = point(file, image, caption, image)
    p.look = look / np.linalg.norm(look)
    return p


def test_look_vector_is_stored_and_searchable(store):
    store.ensure(FP)
    assert store.has_look
    store.upsert([looked("x.jpg", (1, 0, 0, 0), 3), looked("y.jpg", (0, 1, 0, 0), 7)])
    got = store.get_file("x.jpg", [IMAGE, LOOK])
    assert np.argmax(got.vectors[LOOK]) == 3 and len(got.vectors[LOOK]) == LOOK_DIM
    q = np.zeros(LOOK_DIM, dtype=np.float32)
    q[7] = 1.0
    assert store.search(Search((Leg(q, LOOK, 5),), limit=1))[0].file == "y.jpg"
    assert store.get_file("x.jpg", [IMAGE]).vectors.keys() == {IMAGE}


def test_collection_without_look_is_used_without_it(tmp_path):
    """A collection made before the look vector: points are written without it."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(":memory:")
    dense = models.VectorParams(size=FP.dim, distance=models.Distance.COSINE)
    client.create_collection(
        "old",
        vectors_config={IMAGE: dense, CAPTION: dense},
        sparse_vectors_config={KEYWORDS: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        metadata={"tuwen": {"fingerprint": FP.to_dict()}},
    )
    s = ServerStore(client, "old", location=":memory:")
    s.ensure(FP)
    assert not s.has_look
    s.upsert([looked("x.jpg", (1, 0, 0, 0), 3)])
    assert s.get_file("x.jpg", [IMAGE]).file == "x.jpg" and s.count() == 1

    edge = EdgeStore(tmp_path / "e", "c")
    edge.ensure(FP)
    edge.close()
    meta = tmp_path / "e" / "collections" / "c" / "tuwen.json"
    info = json.loads(meta.read_text("utf-8"))
    del info["look_dim"]
    meta.write_text(json.dumps(info), "utf-8")
    with EdgeStore(tmp_path / "e", "c") as old:
        assert old.stored_fingerprint() == FP and not old.has_look


def test_equal_scores_come_out_in_file_order(store):
    store.ensure(FP)
    same = (0, 1, 1, 0)
    store.upsert([point(f, same, "男士衬衫", same) for f in ("z.jpg", "m.jpg", "a/q.jpg")])
    q = unit(*same)
    plain = store.search(Search((Leg(q, IMAGE, 10),), limit=2))
    assert [h.file for h in plain] == ["a/q.jpg", "m.jpg"]
