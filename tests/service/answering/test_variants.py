"""Variants: a photo shot again is folded into one result and reported as a group."""

from __future__ import annotations

import csv
import json

import pytest

from ingest.catalog import load_catalog
from ingest.hits import Hit
from ingest.job import run_ingest
from ingest.store import EdgeStore, point_id
from service.answering.variants import collapse, duplicate_groups
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
