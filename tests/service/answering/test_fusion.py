"""Rank fusion: one formula, whether the store fuses the legs or the lists are fused here,
and the same ranking from every store of the same content, whatever order its ties are in."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from qdrant_client import QdrantClient

from ingest.hits import Hit
from ingest.store import IMAGE, LOOK, EdgeStore, Leg, Search, ServerStore, point_id
from ingest.store.searching import tie_depth, whole_ties
from service.answering.fusion import Fused, fuse, rrf
from tests.service.answering.test_retrieve import FP, hot, point, unit

# qdrant-client's in-memory mode (the "server" store here) ignores payload indexes, and says so
pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


def _ranking(*hits: Hit) -> list[Hit]:
    """The hits best first, with falling scores (no ties)."""
    return [replace(h, score=1.0 - 0.1 * i) for i, h in enumerate(hits)]


def test_rrf_sums_reciprocal_positions():
    a, b, c = (Hit(i, f"{i}.jpg", None, 0.0) for i in "abc")
    fused = rrf([_ranking(a, b, c), _ranking(b, c), _ranking(b)], k=61)
    assert [h.id for h in fused] == ["b", "c", "a"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61 + 1 / 61, abs=1e-6)
    assert [h.id for h in rrf([_ranking(a, b, c)], k=61, limit=2)] == ["a", "b"]


def test_rrf_orders_equal_scores_by_file_name():
    a, b, c = (Hit(i, f"{i}.jpg", None, 0.0) for i in ("b", "a", "c"))
    fused = rrf([_ranking(a, b, c), _ranking(b, a, c)], k=10)
    assert [h.file for h in fused] == ["a.jpg", "b.jpg", "c.jpg"]  # a and b tie
    assert fused[0].score == fused[1].score > fused[2].score


def test_rrf_gives_tied_hits_the_position_of_the_first_of_them():
    a, b, c = (Hit(i, f"{i}.jpg", None, s) for i, s in (("a", 0.9), ("b", 0.5), ("c", 0.5)))
    for order in ([a, b, c], [a, c, b]):
        fused = rrf([order], k=10)
        assert [h.file for h in fused] == ["a.jpg", "b.jpg", "c.jpg"]
        assert fused[1].score == fused[2].score == round(1 / 11, 6)


def test_a_ranking_is_cut_between_two_scores_never_inside_a_tie():
    def ranked(*scores):
        return [Hit(str(i), f"{i}.jpg", None, s) for i, s in enumerate(scores)]

    assert [h.id for h in whole_ties(ranked(9, 8, 7, 6), 2, 4)] == ["0", "1"]
    # a tie across the cut that ends inside the fetched hits is kept whole
    assert [h.id for h in whole_ties(ranked(9, 8, 8, 6), 2, 4)] == ["0", "1", "2"]
    # one that may go on past them (the last fetched hit is in it) is left out
    assert [h.id for h in whole_ties(ranked(9, 8, 8, 8), 2, 4)] == ["0"]
    assert whole_ties(ranked(8, 8, 8, 8), 2, 4) == []
    # unless the store had no more to give
    assert [h.id for h in whole_ties(ranked(9, 8, 8), 2, 4)] == ["0", "1", "2"]
    assert [h.id for h in whole_ties(ranked(9, 8), 2, 4)] == ["0", "1"]  # fewer than asked
    assert tie_depth(50) == 62 and tie_depth(2) == 4


@pytest.mark.parametrize("kind", ["edge", "server"])
def test_two_stores_of_the_same_content_fuse_alike(tmp_path, kind):
    """Points written in another order: tied points (one look vector for seven photos, across
    the leg's cut) come back from each store in its own order; the fused ranking is one."""
    points = [
        point(
            f"{i:02d}.jpg",
            (1, 0.05 * i, 0.02 * (i % 5), 0),
            hot(0) if i % 2 and i < 14 else hot(1 + i % 7),
        )
        for i in range(20)
    ]
    legs = (Leg(unit((1, 0.2, 0, 0)), IMAGE, 6), Leg(hot(0), LOOK, 6))
    rankings = []
    for n, order in enumerate((points, points[::-1])):
        s = (
            EdgeStore(tmp_path / str(n))
            if kind == "edge"
            else ServerStore(QdrantClient(":memory:"))
        )
        s.ensure(FP)
        for p in order:
            s.upsert([p])
        rankings.append(fuse(s, [Fused(legs, limit=8, k=10)])[0])
        s.close()
    assert [(h.file, h.score) for h in rankings[0]] == [(h.file, h.score) for h in rankings[1]]
    assert len(rankings[0]) == 8
    # the legs return ids and scores; the fused hits carry their payload
    assert all(h.file.endswith(".jpg") and h.caption == "caption" for h in rankings[0])


@pytest.fixture(params=["edge", "server"])
def store(request, tmp_path):
    if request.param == "edge":
        s = EdgeStore(tmp_path / "d")
    else:
        s = ServerStore(QdrantClient(":memory:"))
    s.ensure(FP)
    # distinct distances on both vectors, so that neither leg has ties
    s.upsert(
        [
            point(f"{i}.jpg", (1, 0.07 * i, 0.03 * (i % 3), 0), unit(hot(0) + hot(9) * 0.37 * i))
            for i in range(12)
        ]
    )
    yield s
    s.close()


@pytest.mark.parametrize("k", [1, 10, 60])
def test_the_store_fuses_legs_with_the_same_formula(store, k):
    """Legs fused in the store's own query (a weighted variant search) rank and score like
    their own rankings fused here, when no leg has ties."""
    legs = (Leg(unit((1, 0.3, 0, 0)), IMAGE, 12), Leg(hot(0), LOOK, 12))
    in_store = store.search(Search(legs, limit=6, rrf_k=k))
    alone = fuse(store, [Fused((leg,), limit=12) for leg in legs])
    here = rrf(alone, k, limit=6)
    assert [h.file for h in fuse(store, [Fused(legs, limit=6, k=k)])[0]] == [h.file for h in here]
    assert [h.file for h in in_store] == [h.file for h in here]
    assert [h.score for h in in_store] == pytest.approx([h.score for h in here], abs=1e-6)


def test_ranked_lists_are_fused_with_the_legs_and_count_first(store):
    photo = Hit("x", "x.jpg", None, 0.0)  # a ranking already in hand, not in the store
    leg = Leg(unit((1, 0, 0, 0)), IMAGE, 3)
    fused, plain, empty = fuse(
        store,
        [
            Fused((leg,), limit=3, k=61, ranked=([photo],)),
            Fused((leg,), limit=3),
            Fused((), limit=3, ranked=([],)),
        ],
    )
    assert [h.file for h in plain] == ["0.jpg", "1.jpg", "2.jpg"]  # one leg: plain kNN scores
    assert plain[0].score == pytest.approx(1.0)
    assert [h.file for h in fused] == ["0.jpg", "x.jpg", "1.jpg"]  # 0.jpg and x.jpg tie
    assert fused[0].score == fused[1].score == round(1 / 61, 6)
    assert empty == []


def test_filters_apply_to_every_leg(store):
    legs = (Leg(unit((1, 0, 0, 0)), IMAGE, 12), Leg(hot(0), LOOK, 12))
    hits = fuse(store, [Fused(legs, limit=12, exclude_ids=(point_id("0.jpg"),))])[0]
    assert "0.jpg" not in {h.file for h in hits} and len(hits) == 11
    assert np.isfinite([h.score for h in hits]).all()
