"""Payload attributes, generated captions, metadata and attribute agreement: one contract
suite on both Qdrant backends (Edge embedded, qdrant-client in memory)."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.keywords import sparse_vector
from ingest.models.fingerprint import Fingerprint
from ingest.store import (
    CAPTION,
    IMAGE,
    INDEXED,
    KEYWORDS,
    Agree,
    EdgeStore,
    Leg,
    PointData,
    Search,
    ServerStore,
    point_id,
)

FP = Fingerprint("tiny-model", "rev1", 4)


def unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def point(file: str, image, caption=None, attributes=None, source=None, **kw) -> PointData:
    return PointData(
        file=file,
        caption=caption,
        image=unit(*image),
        caption_vector=unit(*image) if caption else None,
        keywords=sparse_vector(caption) if caption else None,
        hash="h" + file,
        image_hash="i" + file,
        ingested_at="2026-01-01T00:00:00+00:00",
        caption_source=source,
        attributes=attributes or {},
        attribute_source=("predicted" if source == "generated" else "caption")
        if attributes
        else None,
        attributes_key="2:test",
        **kw,
    )


BLACK_SHIRT = {"brand": "Levis", "gender": "男士", "color": "黑色", "category": "衬衫"}
POINTS = [
    point("real.jpg", (1, 0, 0, 0), "Levis 男士黑色衬衫", BLACK_SHIRT, "caption"),
    point("red.jpg", (0.9, 0.3, 0, 0), "Levis 男士红色衬衫", {**BLACK_SHIRT, "color": "红色"}),
    point(
        "gen.jpg",
        (0.8, 0.5, 0, 0),
        "男士黑色衬衫",
        {"gender": "男士", "color": "黑色", "category": "衬衫"},
        "generated",
        captioner="heads-v1",
    ),
    point("bare.jpg", (0, 0, 1, 0)),
    point("dress.jpg", (0, 1, 0, 0), "女士红色连衣裙", {"gender": "女士", "color": "红色"}),
]


def products(backend: str, tmp_path, *, indexes: bool = False):
    """The :data:`POINTS` in a ``products`` collection on a backend (``edge`` or ``server``,
    the latter ``QdrantClient(':memory:')``), with the payload indexes when asked."""
    if backend == "edge":
        s = EdgeStore(tmp_path / "data", "products")
    else:
        from qdrant_client import QdrantClient

        s = ServerStore(QdrantClient(":memory:"), "products", location=":memory:")
    s.ensure(FP)
    s.upsert(POINTS)
    if indexes:
        s.ensure_indexes()
    return s


@pytest.fixture(params=["edge", "server"])
def store(request, tmp_path):
    s = products(request.param, tmp_path)
    yield s
    s.close()


def test_payload_holds_attributes_and_caption_source(store):
    got = {p.file: p.payload for p in store.get([point_id(p.file) for p in POINTS])}
    assert got["real.jpg"]["attributes"] == BLACK_SHIRT
    assert got["real.jpg"]["attribute_source"] == "caption"
    assert got["real.jpg"]["caption_source"] == "caption" and got["real.jpg"]["has_caption"]
    assert got["gen.jpg"]["caption_source"] == "generated" and not got["gen.jpg"]["has_caption"]
    assert got["gen.jpg"]["captioner"] == "heads-v1"
    assert got["gen.jpg"]["attribute_source"] == "predicted"
    bare = got["bare.jpg"]
    assert "attributes" not in bare and "caption_source" not in bare  # only what was found
    entry = store.manifest()[point_id("gen.jpg")]
    assert (entry.captioner, entry.caption_source, entry.attributes_key) == (
        "heads-v1",
        "generated",
        "2:test",
    )


def test_hits_carry_caption_source_and_attributes(store):
    hits = store.search(Search((Leg(unit(0.8, 0.5, 0, 0), IMAGE, 5),), limit=5))
    by_file = {h.file: h for h in hits}
    assert by_file["gen.jpg"].caption_source == "generated" and by_file["gen.jpg"].generated
    assert by_file["real.jpg"].attributes == BLACK_SHIRT
    assert by_file["bare.jpg"].caption_source is None and by_file["bare.jpg"].attributes is None


def test_a_generated_caption_is_searched_but_never_counts_as_an_annotation(store):
    q = unit(0.8, 0.5, 0, 0)
    everything = store.search(Search((Leg(q, CAPTION, 5),), limit=5))
    assert "gen.jpg" in [h.file for h in everything]  # found by its caption vector
    by_words = store.search(Search((Leg(sparse_vector("黑色衬衫"), KEYWORDS, 5),), limit=5))
    assert "gen.jpg" in [h.file for h in by_words]  # and by its keywords
    annotated = store.search(Search((Leg(q, IMAGE, 5),), limit=5, captioned_only=True))
    assert sorted(h.file for h in annotated) == ["dress.jpg", "real.jpg", "red.jpg"]
    bare = store.search(Search((Leg(q, IMAGE, 5),), limit=5, uncaptioned_only=True))
    assert sorted(h.file for h in bare) == ["bare.jpg", "gen.jpg"]
    assert store.with_caption("男士黑色衬衫") == []  # a generated caption is no exact match
    assert [h.file for h in store.with_caption("Levis 男士黑色衬衫")] == ["real.jpg"]
    assert store.count(captioned_only=True) == 3 and store.count(generated_only=True) == 1


def test_update_payloads_merges_and_removes_fields_and_keeps_vectors(store):
    pid = point_id("real.jpg")
    before = store.get([pid], [IMAGE, CAPTION])[0]
    store.update_payloads([(pid, {"attributes": {"color": "白色"}, "attribute_source": None})])
    after = store.get([pid], [IMAGE, CAPTION])[0]
    assert after.payload["attributes"] == {"color": "白色"}
    assert "attribute_source" not in after.payload
    assert after.payload["hash"] == "hreal.jpg" and after.caption == "Levis 男士黑色衬衫"
    for name in (IMAGE, CAPTION):
        assert np.allclose(after.vectors[name], before.vectors[name], atol=1e-6)


def test_metadata_values_are_kept_with_the_collection(store):
    assert store.metadata_value("lexicon") is None
    store.set_metadata_value("lexicon", {"format": 1, "brands": ["Levis"]})
    assert store.metadata_value("lexicon") == {"format": 1, "brands": ["Levis"]}
    assert store.stored_fingerprint() == FP  # the fingerprint is still there


def test_edge_metadata_and_indexes_survive_a_reopen(tmp_path):
    with EdgeStore(tmp_path / "d", "c") as s:
        s.ensure(FP)
        assert set(s.ensure_indexes()) == set(INDEXED) - {"caption"}  # made with the shard
        assert s.ensure_indexes() == []  # idempotent
        s.set_metadata_value("lexicon", {"brands": ["Levis"]})
        assert {f"attributes.{f}" for f in ("brand", "color")} <= set(s.shard.info().payload_schema)
    with EdgeStore(tmp_path / "d", "c") as s:
        assert s.metadata_value("lexicon") == {"brands": ["Levis"]}
        assert s.ensure_indexes() == []


def test_a_qdrant_server_gets_every_payload_index(tmp_path):
    from qdrant_client import QdrantClient

    made: list[tuple[str, str]] = []

    class Recording(QdrantClient):
        def create_payload_index(self, collection_name, field_name, field_schema=None, **kw):
            made.append((field_name, str(field_schema)))

    s = ServerStore(Recording(":memory:"), "c", location="http://qdrant.test")
    s.ensure(FP)
    s.ensure_indexes()
    names = {name for name, _ in made}
    assert set(INDEXED) <= names and "file" in names
    assert all("keyword" in kind.lower() for _, kind in made)


def agree_leg(values, min_count=1, limit=5) -> Leg:
    return Leg(unit(0, 0, 1, 0), IMAGE, limit, agree=Agree(tuple(values), min_count=min_count))


def test_agreement_leg_ranks_by_agreeing_attributes(store):
    leg = agree_leg([("brand", "Levis", 1.0), ("color", "黑色", 1.0), ("category", "衬衫", 1.0)])
    hits = store.search(Search((leg,), limit=5))
    # real: 3 agree; gen and red: 2 each (ties by similarity to the leg's vector); dress: none
    assert [h.file for h in hits][:1] == ["real.jpg"]
    assert {h.file for h in hits[1:3]} == {"gen.jpg", "red.jpg"}
    assert "dress.jpg" not in [h.file for h in hits] and "bare.jpg" not in [h.file for h in hits]
    assert hits[0].score == pytest.approx(3.0, abs=0.2)
    strict = store.search(Search((agree_leg(leg.agree.values, min_count=3),), limit=5))
    assert [h.file for h in strict] == ["real.jpg"]


def test_agreement_is_one_fused_ranking_not_a_filter(store):
    near_dress = Leg(unit(0, 1, 0, 0), IMAGE, 5)
    leg = agree_leg([("color", "黑色", 1.0), ("category", "衬衫", 1.0)], min_count=2)
    fused = store.search(Search((near_dress, leg), limit=5))
    files = [h.file for h in fused]
    assert "dress.jpg" in files and "bare.jpg" in files  # the other leg still brings them
    alone = store.search(Search((near_dress,), limit=5))
    assert files.index("real.jpg") < [h.file for h in alone].index("real.jpg")


def test_agreement_leg_respects_the_search_filters(store):
    leg = agree_leg([("color", "黑色", 1.0), ("category", "衬衫", 1.0)])
    annotated = store.search(Search((leg,), limit=5, captioned_only=True))
    assert "gen.jpg" not in [h.file for h in annotated]
    bare = store.search(Search((leg,), limit=5, uncaptioned_only=True))
    assert [h.file for h in bare] == ["gen.jpg"]


def guessed(file: str, image, caption: str, likely: dict) -> PointData:
    """A photo a captioner looked at: its best guesses are its attributes."""
    best = {f: next(iter(d)) for f, d in likely.items()}
    return point(file, image, caption, best, "generated", likely=likely)


# A surely-a-shirt photo whose colour is uncertain, and a surely-black photo that may be a
# T-shirt: the text "男士黑色衬衫" is more likely for the first (0.9·0.6 vs 0.35·0.95).
SHIRT = {"category": {"衬衫": 0.9, "T恤": 0.1}, "color": {"黑色": 0.6, "藏青色": 0.4}}
TEE = {"category": {"T恤": 0.6, "衬衫": 0.35}, "color": {"黑色": 0.95}}
DRESS = {"category": {"连衣裙": 0.99}, "color": {"红色": 0.9}, "gender": {"女士": 0.99}}
LIKELY_POINTS = [
    guessed("shirt.jpg", (0, 0, 1, 0.2), "男士衬衫", {**SHIRT, "gender": {"男士": 0.97}}),
    guessed("tee.jpg", (0, 0, 1, 0.1), "男士黑色T恤", {**TEE, "gender": {"男士": 0.98}}),
    guessed("dress2.jpg", (0, 0, 1, 0), "女士红色连衣裙", DRESS),
]


def test_plausible_values_are_stored_and_filter_an_agreement_pool(backend_name, tmp_path):
    from service.answering.likelihood import by_likelihood, likelihood_request

    s = products(backend_name, tmp_path, indexes=True)
    try:
        s.upsert(LIKELY_POINTS)
        payload = s.get([point_id("tee.jpg")])[0].payload
        assert payload["likely"]["color"] == {"黑色": 0.95}
        assert payload["plausible"]["category"] == ["T恤", "衬衫"]
        title = {"gender": "男士", "color": "黑色", "category": "衬衫"}
        # Every candidate holds at least two of the three values as plausible: the dress and
        # the photos a captioner never looked at (no plausible values) are not gathered.
        agree = Agree(tuple((f, v, 1.0) for f, v in title.items()), min_count=2, key="plausible")
        pool = s.search(
            Search((Leg(unit(0, 0, 1, 0), IMAGE, 10, agree=agree),), 10, uncaptioned_only=True)
        )
        assert sorted(h.file for h in pool) == ["shirt.jpg", "tee.jpg"]
        assert not any(h.likely for h in pool)  # returned only when a search asks for them
        asked = Search((Leg(unit(0, 0, 1, 0), IMAGE, 10),), 10, payload=("likely",))
        assert {h.file for h in s.search(asked) if h.likely} == {
            "shirt.jpg",
            "tee.jpg",
            "dress2.jpg",
        }
        request = likelihood_request(title, unit(0, 0, 1, 0))
        assert request is not None
        ranked = by_likelihood(s.search(request._search(request.legs, request.limit)), title)
        assert [h.file for h in ranked] == ["shirt.jpg", "tee.jpg"]
        assert ranked[0].score == pytest.approx(0.901 * 0.601 * 0.971, rel=1e-3)
    finally:
        s.close()


@pytest.fixture(params=["edge", "server"])
def backend_name(request):
    return request.param
