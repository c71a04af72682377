"""Attributes in the ingest write path: parsed with the catalog's lexicon, kept with the
collection, updated with a caption, and an older collection upgraded without re-embedding."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ingest.attributes import Annotator
from ingest.attributes.stored import stored_lexicon
from ingest.catalog import CatalogItem, load_catalog
from ingest.job import index_items, run_ingest
from ingest.store import CAPTION, IMAGE, EdgeStore, point_id
from tests.conftest import make_catalog

# Shop titles written for these tests: a brand that recurs, marketing words, variant spellings.
TITLES = [
    "2024春夏新款Zorvex男款藏青系休闲衬衫百搭",
    "Zorvex女式白色运动鞋现货速发",
    "【爆款】Quillon男士黑色款正装衬衫",
    "Quillon女款红色系连衣裙显瘦",
    "Zorvex男生灰色T恤",
]


def write_captions(path, rows: dict[str, str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "text"])
        w.writerows(rows.items())


@pytest.fixture
def cat(tmp_path):
    images, captions = make_catalog(tmp_path / "cat", n=7, captioned=0, sub=False)
    write_captions(captions, {f"{1000 + i}.jpg": t for i, t in enumerate(TITLES)})
    return images, captions


def ingest(images, captions, store, encoder, **kw):
    catalog = load_catalog(images, captions)
    return run_ingest(catalog, store, encoder, progress=False, workers=1, batch_size=4, **kw)


def attributes(store, name):
    return store.get_file(name).payload.get("attributes")


def test_attributes_are_parsed_with_the_lexicon_kept_with_the_collection(
    cat, tmp_path, tiny_encoder
):
    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder)
        lexicon = stored_lexicon(store)
        assert lexicon is not None and {"Zorvex", "Quillon"} <= set(lexicon.brands)
        assert attributes(store, "1000.jpg") == {
            "brand": "Zorvex",
            "gender": "男士",
            "color": "藏青色",
            "usage": "休闲",
            "category": "衬衫",
            "style": "百搭",
        }
        payload = store.get_file("1002.jpg").payload
        assert payload["attribute_source"] == "caption" and payload["caption_source"] == "caption"
        assert payload["attributes"]["usage"] == "正装" and payload["attributes"]["color"] == "黑色"
        assert payload["attributes_key"] == Annotator(lexicon).key
        bare = store.get_file("1006.jpg").payload
        assert "attributes" not in bare and "attribute_source" not in bare
    with EdgeStore(tmp_path / "data") as store:  # the lexicon outlives the process
        assert stored_lexicon(store) == lexicon


def test_a_caption_change_updates_the_attributes(cat, tmp_path, tiny_encoder):
    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder)
        rows = {f"{1000 + i}.jpg": t for i, t in enumerate(TITLES)}
        rows["1004.jpg"] = "Zorvex女士粉色T恤"
        write_captions(captions, rows)
        r = ingest(images, captions, store, tiny_encoder)
        assert (r.updated, r.embedded) == (1, 0)
        assert attributes(store, "1004.jpg")["gender"] == "女士"
        assert attributes(store, "1004.jpg")["color"] == "粉色"


def test_a_rerun_upgrades_an_older_collection_without_re_embedding(
    cat, tmp_path, tiny_encoder, monkeypatch
):
    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder)
        expected = {f"{1000 + i}.jpg": attributes(store, f"{1000 + i}.jpg") for i in range(7)}
        before = store.get_file("1001.jpg", [IMAGE, CAPTION])
        # What a collection written before attributes looks like: no attribute fields.
        old = {"attributes": None, "attribute_source": None, "attributes_key": None}
        store.update_payloads([(point_id(f"{1000 + i}.jpg"), old) for i in range(7)])
        assert attributes(store, "1001.jpg") is None

        import ingest.stages as stages

        def refuse(*a, **k):
            raise AssertionError("an upgrade must not decode or embed")

        monkeypatch.setattr(stages, "decode_for_model", refuse)
        monkeypatch.setattr(tiny_encoder, "encode_pixels", refuse)
        monkeypatch.setattr(tiny_encoder, "encode_texts", refuse)
        r = ingest(images, captions, store, tiny_encoder)
        assert (r.upgraded, r.updated, r.embedded, r.unchanged) == (7, 0, 0, 7)
        assert {f: attributes(store, f) for f in expected} == expected
        after = store.get_file("1001.jpg", [IMAGE, CAPTION])
        assert np.allclose(after.vectors[CAPTION], before.vectors[CAPTION], atol=1e-6)
        assert ingest(images, captions, store, tiny_encoder).upgraded == 0  # then nothing


def test_uploads_are_parsed_with_the_stored_lexicon(cat, tmp_path, tiny_encoder):
    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder)
        item = CatalogItem("1006.jpg", images / "1006.jpg", "zorvex男式黑色T恤")
        report = index_items([item], store, tiny_encoder)
        assert report.updated == 1
        assert attributes(store, "1006.jpg")["brand"] == "Zorvex"  # the catalog's spelling
