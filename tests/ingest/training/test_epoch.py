"""Retrieval metrics recorded after each epoch."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.training.epoch import get_clip_metrics, mean_recall, recall_at


def test_recall_counts_any_candidate_with_the_query_caption():
    sim = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.1], [0.0, 0.3, 0.1]])
    correct = np.eye(3, dtype=bool)
    assert recall_at(sim, correct, ks=(1, 2)) == {"R@1": pytest.approx(1 / 3, abs=1e-3), "R@2": 1.0}
    correct[1, 0] = True  # rows 0 and 1 share a caption
    assert recall_at(sim, correct, ks=(1,))["R@1"] == pytest.approx(2 / 3, abs=1e-3)


def test_clip_metrics_score_both_directions():
    # Image 0 looks like caption 1 and image 1 like caption 0; image 2 matches its caption.
    image = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    text = np.eye(3)
    m = get_clip_metrics(image, text, np.array([0, 1, 2]))
    assert m["n"] == 3
    assert m["t2i"]["R@1"] == pytest.approx(1 / 3, abs=1e-3)
    assert m["i2t"]["R@1"] == pytest.approx(1 / 3, abs=1e-3)
    assert m["t2i"]["R@5"] == 1.0
    # Captions 0 and 1 identical: the swapped images are right answers too.
    same = get_clip_metrics(image, text, np.array([0, 0, 2]))
    assert same["t2i"]["R@1"] == same["i2t"]["R@1"] == 1.0
    assert mean_recall(m) == pytest.approx((1 / 3 + 1 + 1) * 2 / 6, abs=1e-3)
    assert mean_recall(None) == -1.0
