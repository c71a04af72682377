"""The attribute-likelihood ranking of a retrieve answer: without an exact caption match, the
photos without a real caption come in the order of how likely the title's attributes are for
them, not by their hard predicted labels or their distance to the text."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ingest.hits import Hit
from ingest.models.fingerprint import Fingerprint
from ingest.store import EdgeStore
from service.answering.likelihood import EPSILON, by_likelihood, likelihood, likelihood_request
from service.answering.retrieve import Retriever
from tests.service.answering.test_agreement import point, unit

FP = Fingerprint("fake", "r", 4)
# Written for this test: marketing words around a brand, gender, colour and type.
TITLE = "2025春季新款Zorvex男款黑色系衬衫包邮"


def generated(file: str, image, caption: str, likely: dict) -> object:
    p = point(file, image, caption, source="generated")
    p.likely = likely
    return p


@pytest.fixture
def store(tmp_path):
    with EdgeStore(tmp_path / "d") as s:
        s.ensure(FP)
        s.upsert(
            [
                point("dress.jpg", (1, 0, 0, 0), "Quillon女士红色连衣裙"),
                # Nearest to the text, labelled 黑色 T恤: the hard labels agree on colour only.
                generated(
                    "tee.jpg",
                    (1, 0.1, 0, 0),
                    "男士黑色T恤",
                    {
                        "gender": {"男士": 0.97},
                        "color": {"黑色": 0.9},
                        "category": {"T恤": 0.55, "衬衫": 0.4},
                    },
                ),
                # Far from the text, and its colour too unsure for its caption: surely a 衬衫.
                generated(
                    "shirt.jpg",
                    (0, 0, 1, 0),
                    "男士衬衫",
                    {
                        "gender": {"男士": 0.95},
                        "color": {"黑色": 0.7, "藏青色": 0.25},
                        "category": {"衬衫": 0.92},
                    },
                ),
                generated(
                    "skirt.jpg",
                    (0.9, 0.3, 0, 0),
                    "女士黑色半身裙",
                    {"gender": {"女士": 0.99}, "color": {"黑色": 0.9}, "category": {"半身裙": 0.9}},
                ),
            ]
        )
        s.ensure_indexes()
        yield s


def retriever(store, **kw) -> Retriever:
    encoder = SimpleNamespace(
        fingerprint=FP, encode_texts=lambda texts: np.stack([unit(1, 0, 0, 0)] * len(texts))
    )
    return Retriever(store, encoder, **kw)


def test_the_photo_most_likely_to_be_the_titled_product_leads_a_retrieve_answer(store):
    hits = retriever(store).search(TITLE, 3, exact_first=True, lookalikes=3)
    assert [h.file for h in hits[:2]] == ["shirt.jpg", "tee.jpg"]
    assert hits[0].score == pytest.approx(
        (0.95 + EPSILON) * (0.7 + EPSILON) * (0.92 + EPSILON), rel=1e-3
    )
    # The brand is unknown to every photo: it lowers all alike. The skirt lacks two of the
    # four stated values and is not gathered.
    without = retriever(store, likelihood=False).search(TITLE, 3, exact_first=True, lookalikes=3)
    assert without[0].file != "shirt.jpg"


def test_an_exact_caption_match_still_leads_and_plain_search_is_unchanged(store):
    exact = retriever(store).search("Quillon女士红色连衣裙", 3, exact_first=True, lookalikes=3)
    assert exact[0].file == "dress.jpg"
    plain = retriever(store).search(TITLE, 3)
    assert plain == retriever(store, likelihood=False).search(TITLE, 3)


def test_likelihood_is_the_product_of_the_stated_fields_probabilities():
    hit = Hit("1", "a.jpg", None, 0.5, likely={"color": {"黑色": 0.5}, "gender": {"男士": 0.8}})
    attrs = {"color": "黑色", "gender": "男士", "category": "衬衫", "style": "简约"}
    assert likelihood(hit, attrs) == pytest.approx((0.5 + EPSILON) * (0.8 + EPSILON) * EPSILON)
    bare = Hit("2", "b.jpg", None, 0.9)  # no plausible values: not ranked
    assert [h.file for h in by_likelihood([bare, hit], attrs)] == ["a.jpg"]
    assert likelihood_request({"style": "简约"}, unit(1, 0, 0, 0)) is None
