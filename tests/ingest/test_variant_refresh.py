"""Stored variant groups kept current after a run: only the groups the run touched are worked
out again, and they come out as the whole pass makes them, on both Qdrant backends."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.models.fingerprint import Fingerprint
from ingest.store import EdgeStore, PointData, ServerStore, point_id
from ingest.variants import (
    duplicate_groups,
    refresh_groups,
    store_groups,
    stored_keys,
    touched_keys,
)

LIMITS = {"image_min": 0.99, "look_min": 0.99}


def axis(i: int, tilt: tuple[int, float] | None = None) -> np.ndarray:
    v = np.zeros(8, dtype=np.float32)
    v[i] = 1.0
    if tilt is not None:
        v[tilt[0]] = tilt[1]
    return v / np.linalg.norm(v)


def photo(file: str, image: np.ndarray) -> PointData:
    return PointData(
        file=file,
        caption=None,
        image=image,
        caption_vector=None,
        keywords=None,
        hash="h" + file + str(image.tobytes()),
        image_hash="i" + file,
        ingested_at="2026-01-01T00:00:00+00:00",
    )


#: a and a2 are one product shot twice, so are b and b2; the rest stand alone, e–h far away.
CATALOG = {
    "a.jpg": axis(0),
    "a2.jpg": axis(0, (1, 0.05)),
    "b.jpg": axis(1),
    "b2.jpg": axis(1, (2, 0.05)),
    "c.jpg": axis(2),
    "d.jpg": axis(3),
    **{f"{x}.jpg": axis(i) for i, x in enumerate("efgh", start=4)},
}


@pytest.fixture(params=["edge", "server"])
def store(request, tmp_path):
    fp = Fingerprint("tiny-model", "rev1", 8)
    if request.param == "edge":
        s = EdgeStore(tmp_path / "data", "variants")
    else:
        from qdrant_client import QdrantClient

        s = ServerStore(QdrantClient(":memory:"), "variants", location=":memory:")
    s.ensure(fp)
    s.ensure_indexes()
    s.upsert([photo(f, v) for f, v in CATALOG.items()])
    store_groups(s, duplicate_groups(s, **LIMITS), **LIMITS)
    yield s
    s.close()


def whole_pass_keys(store) -> dict[str, str]:
    """Point id → the key the whole pass gives (a group's first file, else the point)."""
    ids = {point_id(f) for f in store_files(store)}
    key = {pid: pid for pid in ids}
    for files in duplicate_groups(store, **LIMITS):
        key.update({point_id(f): point_id(files[0]) for f in files})
    return key


def store_files(store) -> list[str]:
    return [e.file for e in store.manifest().values()]


def test_a_run_reworks_only_the_groups_it_touched(store) -> None:
    assert refresh_groups(store) == 2  # {a, a2} and {b, b2}
    searched: list[int] = []
    search_batch = store.search_batch

    def counting(searches):
        searched.append(len(searches))
        return search_batch(searches)

    store.search_batch = counting
    # The run: a is removed (the key of its group), b2 is re-shot close to d, c2 is new, close to c.
    changed = [point_id("b2.jpg"), point_id("c2.jpg")]
    before = touched_keys(store, [point_id("b2.jpg"), point_id("a.jpg")])
    assert before == {point_id("b2.jpg"): point_id("b.jpg"), point_id("a.jpg"): point_id("a.jpg")}
    store.delete([point_id("a.jpg")])
    store.upsert([photo("b2.jpg", axis(3, (2, 0.05))), photo("c2.jpg", axis(2, (0, 0.05)))])

    groups = refresh_groups(store, changed, before, full_share=0.5)

    assert sum(searched) == 6  # a2, b, b2, c, c2, d: e–h were never searched from
    assert groups == 2  # {b2, d} and {c, c2}; a2 and b now stand alone
    got = stored_keys(store, list(whole_pass_keys(store)))
    assert got == whole_pass_keys(store)
    assert got[point_id("d.jpg")] == point_id("b2.jpg")
    assert got[point_id("a2.jpg")] == point_id("a2.jpg")
    assert store.metadata_value("variants")["groups"] == 2


def test_a_large_change_takes_the_whole_pass(store, monkeypatch) -> None:
    import ingest.variants as variants

    before = touched_keys(store, [point_id(f) for f in ("a.jpg", "b.jpg", "c.jpg")])
    store.upsert([photo(f, axis(5, (6, 0.05))) for f in ("a.jpg", "b.jpg", "c.jpg")])
    calls = []
    whole = variants.duplicate_groups
    monkeypatch.setattr(
        variants, "duplicate_groups", lambda s, **kw: calls.append(kw) or whole(s, **kw)
    )
    changed = [point_id(f) for f in ("a.jpg", "b.jpg", "c.jpg")]
    # 3 of 10 changed (more than FULL_SHARE): a, b and c now join f, their old pairs part.
    assert refresh_groups(store, changed, before) == 1
    assert calls == [LIMITS]
    monkeypatch.undo()
    assert stored_keys(store, list(whole_pass_keys(store))) == whole_pass_keys(store)


def test_a_collection_without_groups_has_nothing_to_keep(tmp_path) -> None:
    with EdgeStore(tmp_path / "data", "plain") as s:
        s.ensure(Fingerprint("tiny-model", "rev1", 8))
        s.upsert([photo("a.jpg", axis(0))])
        assert touched_keys(s, [point_id("a.jpg")]) is None
        assert refresh_groups(s, [point_id("a.jpg")], None) is None
