"""Attribute filters and facet counts: one contract suite on both Qdrant backends."""

from __future__ import annotations

import pytest

from ingest.store import IMAGE, Leg, Search
from ingest.store.facets import as_filters
from tests.ingest.test_store_attributes import products, unit


@pytest.fixture(params=["edge", "server"])
def store(request, tmp_path):
    s = products(request.param, tmp_path, indexes=True)
    yield s
    s.close()


def files(hits) -> list[str]:
    return [h.file for h in hits]


def test_filter_keeps_only_matching_points_on_every_leg(store) -> None:
    q = unit(1, 0, 0, 0)
    red = as_filters({"color": ["红色"]})
    one = store.search(Search((Leg(q, IMAGE, 10),), limit=10, filters=red))
    assert sorted(files(one)) == ["dress.jpg", "red.jpg"]
    fused = store.search(
        Search((Leg(q, IMAGE, 10), Leg(q, IMAGE, 10)), limit=10, filters=red, captioned_only=True)
    )
    assert sorted(files(fused)) == ["dress.jpg", "red.jpg"]


def test_filter_values_are_any_of_and_fields_all_of(store) -> None:
    q = unit(1, 0, 0, 0)
    flt = as_filters({"color": ["红色", "黑色"], "gender": ["男士"]})
    hits = store.search(Search((Leg(q, IMAGE, 10),), limit=10, filters=flt))
    assert sorted(files(hits)) == ["gen.jpg", "real.jpg", "red.jpg"]


def test_unknown_filter_field_names_it() -> None:
    with pytest.raises(ValueError, match="'colour'"):
        as_filters({"colour": ["红色"]})


def test_facets_count_whole_catalog_filtered_and_over_ids(store) -> None:
    assert store.facets("color") == [("红色", 2), ("黑色", 2)]
    assert store.facets("color", {"gender": ["男士"]}) == [("黑色", 2), ("红色", 1)]
    ids = [h.id for h in store.search(Search((Leg(unit(0, 1, 0, 0), IMAGE, 1),), limit=1))]
    assert store.facets("gender", ids=ids) == [("女士", 1)]
    assert store.facets("gender", ids=[]) == []
    with pytest.raises(ValueError, match="'size'"):
        store.facets("size")
