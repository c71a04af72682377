"""Variants: a photo shot again is folded into one result and reported as a group."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from ingest.catalog import load_catalog
from ingest.hits import Hit
from ingest.job import run_ingest
from ingest.store import VARIANT, EdgeStore, ServerStore, point_id
from ingest.variants import duplicate_groups, keyed, refresh_groups, store_groups
from service.answering.retrieve import Retriever
from service.answering.variants import collapse, search_collapsed
from service.cli import main
from tests.conftest import photo

#: (file, caption, colour, seed, JPEG quality): x and x2 are one photo saved twice.
PHOTOS = [
    ("x.jpg", "Levis 男士黑色衬衫", (20, 20, 20), 1, 92),
    ("x2.jpg", "Levis 男士黑色衬衫", (20, 20, 20), 1, 80),
    ("y.jpg", "Nike 女士红色运动T恤", (210, 30, 30), 6, 92),
    ("z.jpg", "Titan 男士蓝色手表", (30, 60, 200), 3, 92),
    ("w.jpg", "Baggit女士手提包 棕色", (140, 90, 40), 9, 92),
]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, tiny_encoder):
    root = tmp_path_factory.mktemp("dups")
    images = root / "images"
    images.mkdir()
    for name, _, colour, seed, quality in PHOTOS:
        photo(colour, seed=seed).save(images / name, quality=quality)
    with (root / "c.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "text"])
        w.writerows((p[0], p[1]) for p in PHOTOS)
    with EdgeStore(root / "data") as store:
        run_ingest(load_catalog(images, root / "c.csv"), store, tiny_encoder, progress=False)
    return root


def _hit(name: str, score: float) -> Hit:
    return Hit(point_id(name), name, None, score)


def test_collapse_folds_the_photo_shot_again(catalog) -> None:
    with EdgeStore(catalog / "data") as store:
        groups = collapse(store, [_hit("x.jpg", 0.9), _hit("y.jpg", 0.8), _hit("x2.jpg", 0.7)])
    assert [(g.lead.file, [m.file for m in g.members]) for g in groups] == [
        ("x.jpg", ["x2.jpg"]),
        ("y.jpg", []),
    ]


def test_duplicate_groups_and_cli(catalog, tiny_clip_dir, capsys) -> None:
    with EdgeStore(catalog / "data") as store:
        assert duplicate_groups(store) == [["x.jpg", "x2.jpg"]]
        # no threshold: every photo is its neighbours' variant
        assert len(duplicate_groups(store, image_min=-1, look_min=-1)[0]) == len(PHOTOS)
    args = ["--data-dir", str(catalog / "data"), "--clip-model", str(tiny_clip_dir)]
    assert main(["duplicates", "--json", *args]) == 0
    assert json.loads(capsys.readouterr().out) == {"groups": [["x.jpg", "x2.jpg"]]}
    assert main(["search", "衬衫", "--gender", "男", "--color", "黑", "--json", *args]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert sorted(r["image"] for r in rows) == ["x.jpg", "x2.jpg"]
    assert main(["search", "衬衫", "--color", "黑", "--collapse", "--json", *args]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert len(rows) == 1 and len(rows[0]["variants"]) == 1
    assert main(["search", "红色", "--image", "z.jpg", "-k", "1", "--json", *args]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["image"] == "y.jpg"


@pytest.fixture(params=["edge", "server"])
def backend(request, catalog, tmp_path, tiny_encoder):
    """The catalog in a store of its own, on each backend."""
    if request.param == "edge":
        shutil.copytree(catalog / "data", tmp_path / "data")
        store = EdgeStore(tmp_path / "data")
    else:
        from qdrant_client import QdrantClient

        store = ServerStore(QdrantClient(":memory:"), location=":memory:")
        run_ingest(
            load_catalog(catalog / "images", catalog / "c.csv"),
            store,
            tiny_encoder,
            progress=False,
        )
    yield store
    store.close()


def _shown(groups) -> list[str]:
    return [h.file for g in groups for h in [g.lead, *g.members]]


def test_stored_keys_make_collapse_a_grouped_search(backend, tiny_encoder, monkeypatch) -> None:
    store = backend
    groups = duplicate_groups(store)
    assert groups == [["x.jpg", "x2.jpg"]] and not keyed(store)
    assert store_groups(store, groups) == len(PHOTOS)
    assert keyed(store) and not keyed(store, image_min=0.5)  # other thresholds: stale
    assert store_groups(store, groups) == 0  # unchanged keys are not written again
    got = store.get([point_id("x.jpg"), point_id("x2.jpg"), point_id("y.jpg")])
    assert [p.payload[VARIANT] for p in got] == [point_id("x.jpg")] * 2 + [point_id("y.jpg")]
    calls = []
    if isinstance(store, ServerStore):  # Qdrant groups: query_points_groups is asked
        real = store.client.query_points_groups
        monkeypatch.setattr(
            store.client,
            "query_points_groups",
            lambda *a, **kw: calls.append(kw["group_size"]) or real(*a, **kw),
        )
    retriever = Retriever(store, tiny_encoder)
    found = search_collapsed(retriever, "衬衫", 10)
    assert len(found) == len(PHOTOS) - 1  # five photos, x and x2 one product
    assert sorted(_shown(found)) == sorted(p[0] for p in PHOTOS)
    pair = next(g for g in found if g.members)
    assert {pair.lead.file, *(m.file for m in pair.members)} == {"x.jpg", "x2.jpg"}
    # the exact caption leads, with its variant
    exact = search_collapsed(retriever, "Levis 男士黑色衬衫", 2)
    assert exact[0].lead.file in {"x.jpg", "x2.jpg"} and len(exact[0].members) == 1
    assert len(exact) == 2 and len(set(_shown(exact))) == len(_shown(exact))
    assert calls if isinstance(store, ServerStore) else not calls
    # grouping the ranked hits of another search by the stored keys
    ranked = collapse(store, [_hit("y.jpg", 0.9), _hit("x2.jpg", 0.8), _hit("x.jpg", 0.7)])
    assert [(g.lead.file, [m.file for m in g.members]) for g in ranked] == [
        ("y.jpg", []),
        ("x2.jpg", ["x.jpg"]),
    ]
    # a point re-written without its key (a later ingest): back to the vectors
    store.update_payloads([(point_id("z.jpg"), {VARIANT: None})])
    assert not keyed(store)
    assert len(search_collapsed(retriever, "衬衫", 10)) == len(PHOTOS) - 1


def test_thresholds_are_settings(catalog, tiny_clip_dir, tmp_path, capsys, monkeypatch) -> None:
    shutil.copytree(catalog / "data", tmp_path / "data")
    args = ["--data-dir", str(tmp_path / "data"), "--clip-model", str(tiny_clip_dir)]
    monkeypatch.setenv("TUWEN_VARIANT_IMAGE_MIN", "-1")
    monkeypatch.setenv("TUWEN_VARIANT_LOOK_MIN", "-1")
    assert main(["duplicates", "--json", *args]) == 0
    assert [len(g) for g in json.loads(capsys.readouterr().out)["groups"]] == [len(PHOTOS)]
    assert main(["search", "衬衫", "--collapse", "--json", *args]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert len(rows) == 1 and len(rows[0]["variants"]) == len(PHOTOS) - 1
    # the flags override the settings; --store writes the keys with those thresholds
    assert main(["duplicates", "--store", "--json", "--image-min", "0.998", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [len(g) for g in out["groups"]] == [2] and out["keys_written"] == len(PHOTOS)
    with EdgeStore(tmp_path / "data") as store:
        assert keyed(store, image_min=0.998, look_min=-1)
        assert not keyed(store)  # the default thresholds are not the stored ones


def test_an_ingest_keeps_stored_groups_current(catalog, tiny_encoder, tmp_path) -> None:
    images = tmp_path / "images"
    shutil.copytree(catalog / "images", images)
    shutil.copytree(catalog / "data", tmp_path / "data")
    with EdgeStore(tmp_path / "data") as store:
        assert refresh_groups(store) is None  # groups never stored: nothing to keep current
        store_groups(store, duplicate_groups(store))
        assert keyed(store)
        # y shot again: a new photo that an ingest adds.
        shutil.copy(images / "y.jpg", images / "y2.jpg")
        report = run_ingest(load_catalog(images), store, tiny_encoder, progress=False)
        assert report.added == 1 and report.variant_groups == 2
        assert "variant groups stored again: 2" in report.summary()
        assert keyed(store)  # the new point has its key: collapse stays a grouped search
        keys = {
            p.file: p.payload[VARIANT] for p in store.get([point_id("y.jpg"), point_id("y2.jpg")])
        }
        assert keys["y.jpg"] == keys["y2.jpg"]
        # An ingest that changes nothing leaves them alone.
        again = run_ingest(load_catalog(images), store, tiny_encoder, progress=False)
        assert again.variant_groups is None
