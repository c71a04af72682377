"""Photo plus words ("this, but in red"): search over a small catalog of variants."""

from __future__ import annotations

import csv

import pytest

from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.store import EdgeStore
from service.answering.composed import composed_attributes, search_composed
from service.answering.retrieve import Retriever
from tests.conftest import photo

BLACK, RED, BLUE = (20, 20, 20), (210, 30, 30), (30, 60, 200)

#: (file, caption, colour of the photo, seed: where the product's block sits = its outline)
VARIANTS = [
    ("a.jpg", "Levis 男士黑色衬衫", BLACK, 1),
    ("b.jpg", "Levis 男士红色衬衫", RED, 1),  # a's red variant
    ("c.jpg", "Vero Moda 女士红色连衣裙", RED, 5),
    ("d.jpg", "Levis 男士黑色牛仔裤", BLACK, 3),
    ("e.jpg", "Peter England 男士黑色衬衫", BLACK, 1),
    ("f.jpg", "Nike 女士红色运动T恤", RED, 7),
    ("g.jpg", "Levis 男士蓝色衬衫", BLUE, 1),
    ("h.jpg", "Titan 男士红色手表", RED, 2),
]


def write_variants(root):
    """A catalog folder and caption CSV of :data:`VARIANTS`."""
    images = root / "images"
    images.mkdir(parents=True)
    for name, _, colour, seed in VARIANTS:
        photo(colour, seed=seed).save(images / name, quality=92)
    csv_path = root / "captions.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "text"])
        w.writerows((name, caption) for name, caption, _, _ in VARIANTS)
    return images, csv_path


@pytest.fixture(scope="module")
def variants(tmp_path_factory, tiny_encoder):
    root = tmp_path_factory.mktemp("variants")
    images, captions = write_variants(root)
    store = EdgeStore(root / "data")
    run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
    yield Retriever(store, tiny_encoder), images
    store.close()


def test_words_replace_the_photos_attributes() -> None:
    photo_attrs = {"brand": "Levis", "color": "黑色", "category": "衬衫"}
    assert composed_attributes(photo_attrs, {"color": "红色"}) == {
        "brand": "Levis",
        "color": "红色",
        "category": "衬衫",
    }


def test_photo_plus_red_finds_the_red_variant(variants) -> None:
    retriever, _ = variants
    query = retriever.resolve_image("a.jpg")
    hits = search_composed(retriever, query, "红色", k=5)
    assert hits[0].file == "b.jpg"
    assert "a.jpg" not in [h.file for h in hits]  # the photo itself is not returned
    # blue instead: the blue variant leads
    assert search_composed(retriever, query, "蓝色", k=5)[0].file == "g.jpg"


def test_uploaded_photo_plus_words(variants) -> None:
    retriever, images = variants
    # an upload has no stored attributes: the words state them (a.jpg is the photo itself)
    query = retriever.resolve_image((images / "a.jpg").read_bytes())
    hits = search_composed(retriever, query, "Levis 男士红色衬衫", k=3)
    assert [h.file for h in hits if h.file != "a.jpg"][0] == "b.jpg"


def test_variant_pairs_from_captions() -> None:
    from tests.service.answering.composed_pairs import variant_pairs

    pairs = variant_pairs((name, caption) for name, caption, _, _ in VARIANTS)
    assert ("a.jpg", "红色", "b.jpg") in pairs and ("b.jpg", "黑色", "a.jpg") in pairs
    assert ("a.jpg", "黑色", "e.jpg") not in pairs  # another brand
    assert not [p for p in pairs if p[0] in ("c.jpg", "d.jpg", "h.jpg")]  # no other colour
