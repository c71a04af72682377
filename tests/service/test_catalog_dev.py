"""End to end on the real dev catalog: every question answered, every citation valid.

Uses a tiny random model, so the quality metrics are not asserted here (that is what
``tuwen finetune`` is for); routing, coverage and citation validity are.
"""

from __future__ import annotations

import json

import pytest

from ingest.catalog import load_catalog, walk_images
from ingest.job import run_ingest
from ingest.store import EdgeStore
from service.answering.answerer import Answerer
from service.answering.retrieve import Retriever
from service.evaluate import evaluate

KIND_OF_TYPE = {
    "retrieve": "retrieve",
    "describe": "describe",
    "color": "attribute",
    "category": "attribute",
    "gender": "attribute",
    "usage": "attribute",
}


@pytest.mark.slow
def test_all_dev_questions_are_answered_with_valid_citations(catalog_dev, tiny_encoder, tmp_path):
    catalog = load_catalog(catalog_dev / "images", catalog_dev / "train_annotation.csv")
    assert (len(catalog.items), catalog.captioned) == (3787, 2965)
    queries = json.loads((catalog_dev / "query.json").read_text(encoding="utf-8"))
    truth = json.loads((catalog_dev / "answers.json").read_text(encoding="utf-8"))
    with EdgeStore(tmp_path / "data") as store:
        report = run_ingest(catalog, store, tiny_encoder, progress=False, workers=2, batch_size=64)
        assert report.added == 3787 and not report.failed
        answerer = Answerer(Retriever(store, tiny_encoder))
        outputs = []
        for q, t in zip(queries, truth, strict=True):
            a = answerer.ask(q["question"], q["related_image"] or None)
            assert a.kind == KIND_OF_TYPE[t["type"]], q["question"]
            assert a.answer
            outputs.append(dict(q, answer=a.answer, citations=[c.__dict__ for c in a.citations]))
    files = set(walk_images(catalog_dev / "images"))
    m = evaluate(outputs, truth, catalog_files=files)
    assert m["n"] == 822 and m["citation_valid"] == 1.0
    # exact caption matches alone put every annotated twin first
    twins = [t for t in truth if t["type"] == "retrieve" and len(t["accept"]) > 1]
    assert m["retrieve_r1"] >= 0.75 * len(twins) / m["count_retrieve"]
