"""Grouped search by a payload key: one contract suite on both Qdrant backends (Qdrant's
``query_points_groups`` through qdrant-client, the same rule in tuwen on Qdrant Edge)."""

from __future__ import annotations

import pytest

from ingest.store import IMAGE, VARIANT, EdgeStore, Leg, Search, point_id
from ingest.store.facets import as_filters
from tests.ingest.test_store_attributes import products, unit

#: real and red are one model in two colours; bare has no key (left out of groups).
KEYS = {"real.jpg": "A", "red.jpg": "A", "gen.jpg": "B", "dress.jpg": "C"}


@pytest.fixture(params=["edge", "server"])
def store(request, tmp_path):
    s = products(request.param, tmp_path, indexes=True)
    s.update_payloads([(point_id(f), {VARIANT: k}) for f, k in KEYS.items()])
    yield s
    s.close()


def files(groups) -> list[list[str]]:
    return [[h.file for h in g] for g in groups]


def test_one_leg_search_groups_by_key(store) -> None:
    q = unit(1, 0, 0, 0)
    groups = store.search_groups(Search((Leg(q, IMAGE, 10),), limit=2), VARIANT, size=3)
    assert files(groups) == [["real.jpg", "red.jpg"], ["gen.jpg"]]
    assert groups[0][0].score >= groups[0][1].score >= groups[1][0].score
    one = store.search_groups(Search((Leg(q, IMAGE, 10),), limit=5), VARIANT, size=1)
    assert files(one) == [["real.jpg"], ["gen.jpg"], ["dress.jpg"]]  # bare.jpg: no key


def test_fused_filtered_search_groups_by_key(store) -> None:
    q = unit(1, 0, 0, 0)
    red = as_filters({"color": ["红色"]})
    search = Search((Leg(q, IMAGE, 10), Leg(q, IMAGE, 10)), limit=10, filters=red)
    assert files(store.search_groups(search, VARIANT, size=3)) == [["red.jpg"], ["dress.jpg"]]


def test_points_with_a_key_are_counted(store) -> None:
    assert store.count_with(VARIANT) == len(KEYS)
    store.update_payloads([(point_id("gen.jpg"), {VARIANT: None})])
    assert store.count_with(VARIANT) == len(KEYS) - 1


def test_server_groups_with_qdrant_and_edge_here(store) -> None:
    search = Search((Leg(unit(1, 0, 0, 0), IMAGE, 10),), limit=2)
    request = store._request(search)
    native = store._query_groups(request, VARIANT, 2, 3)
    if isinstance(store, EdgeStore):
        assert native is None  # qdrant-edge-py has no grouped query: tuwen groups
    else:
        assert [[str(p.id) for p in g] for g in native] == [
            [point_id("real.jpg"), point_id("red.jpg")],
            [point_id("gen.jpg")],
        ]
