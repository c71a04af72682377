"""Attribute agreement in text search: a title's attributes, not its marketing words, rank."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ingest.attributes import Lexicon, caption_attributes
from ingest.keywords import sparse_vector
from ingest.models.fingerprint import Fingerprint
from ingest.store import EdgeStore, PointData
from service.answering.agreement import agreeing, read_product_text
from service.answering.answerer import Answerer
from service.answering.retrieve import Retriever

FP = Fingerprint("fake", "r", 4)
# Written for this test: a title with marketing words around brand, gender, colour, usage, type.
TITLE = "2023秋冬新品Zorvex男款藏青系日常休闲衬衫百搭现货速发"
DECOY = "2023秋冬新品现货速发百搭Quillon女士红色连衣裙"  # the same marketing words
RIGHT = "Zorvex男士藏青色休闲衬衫"


def unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def point(file: str, image, caption: str | None, source: str = "caption") -> PointData:
    attributes = caption_attributes(caption, None)
    return PointData(
        file=file,
        caption=caption,
        image=unit(*image),
        caption_vector=unit(*image) if caption else None,
        keywords=sparse_vector(caption) if caption else None,
        hash="h" + file,
        image_hash="i" + file,
        ingested_at="2026-01-01T00:00:00+00:00",
        caption_source=source if caption else None,
        attributes=attributes,
        attribute_source="caption" if attributes else None,
    )


@pytest.fixture
def store(tmp_path):
    # The text vector (1, 0, 0, 0) is nearest to the decoys: the CLIP legs are misled.
    with EdgeStore(tmp_path / "d") as s:
        s.ensure(FP)
        s.upsert(
            [
                point("decoy.jpg", (1, 0.05, 0, 0), DECOY),
                point("decoy2.jpg", (1, 0.1, 0, 0), "新品现货速发Quillon女士白色T恤"),
                point("blue.jpg", (1, 0.2, 0.1, 0), "Zorvex男士蓝色休闲衬衫"),
                point("right.jpg", (0, 0, 1, 0.3), RIGHT),
                point("photo.jpg", (1, 0, 0.02, 0), None),
            ]
        )
        yield s


def retriever(store, **kw) -> Retriever:
    encoder = SimpleNamespace(
        fingerprint=FP, encode_texts=lambda texts: np.stack([unit(1, 0, 0, 0)] * len(texts))
    )
    return Retriever(store, encoder, **kw)


def test_a_title_is_read_into_attributes_and_product_words():
    product = read_product_text(TITLE, None)
    assert dict(product.attributes) == {
        "brand": "Zorvex",
        "gender": "男士",
        "color": "藏青色",
        "usage": "休闲",
        "category": "衬衫",
        "style": "百搭",
    }
    for marketing in ("2023", "秋冬", "新品", "现货", "速发"):
        assert marketing not in product.keywords
    assert "Zorvex" in product.keywords and "衬衫" in product.keywords


def test_a_catalogs_own_filler_words_are_dropped_with_its_lexicon():
    captions = [f"{w}Zorvex男士黑色衬衫" for w in ("", "")] + ["闪电直发Quillon女士红色长裙"] * 2
    lexicon = Lexicon.learn(captions)
    product = read_product_text("闪电直发Zorvex男士黑色衬衫", lexicon)
    assert "闪电直发" not in product.keywords and "Zorvex" in product.keywords


def test_attribute_agreement_lifts_the_product_the_title_describes(store):
    plain = [h.file for h in retriever(store, agreement=False).search(TITLE, 5)]
    assert plain.index("right.jpg") > plain.index("decoy.jpg")  # misled without agreement
    agreed = [h.file for h in retriever(store).search(TITLE, 5)]
    assert agreed.index("right.jpg") < agreed.index("decoy.jpg")
    assert "decoy.jpg" in agreed  # a signal, never a filter


def test_a_product_agreeing_on_every_stated_attribute_leads_a_retrieve_answer(store):
    hits = retriever(store).search(TITLE, 5, exact_first=True, lookalikes=3)
    assert hits[0].file == "right.jpg" and hits[0].caption_source == "caption"
    assert "photo.jpg" in [h.file for h in hits]  # its look-alikes follow
    off = retriever(store, agreement=False).search(TITLE, 5, exact_first=True, lookalikes=3)
    assert off[0].file != "right.jpg"
    exact = retriever(store).search(DECOY, 5, exact_first=True)
    assert exact[0].file == "decoy.jpg" and exact[0].score == 1.0  # the exact caption stays


def test_agreeing_needs_two_identifying_attributes(store):
    hits = retriever(store).search(TITLE, 5)
    assert [h.file for h in agreeing(hits, read_product_text(TITLE, None).attributes)] == [
        "right.jpg"
    ]
    assert agreeing(hits, {"gender": "男士"}) == []


def test_retrieve_citations_say_where_their_caption_comes_from(store):
    answer = Answerer(retriever(store)).ask(f"请匹配到与 {TITLE} 最相关的图片。")
    assert answer.answer == "right.jpg"
    sources = {c.image: c.caption_source for c in answer.citations}
    assert sources["right.jpg"] == "caption" and sources["photo.jpg"] is None
    assert answer.to_dict()["citations"][0]["caption_source"] == "caption"
