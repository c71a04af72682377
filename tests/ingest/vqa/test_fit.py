"""Choices made on the hold-out: the heads' weights, the fusion weights, the thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.vqa.features import PhotoFeatures
from ingest.vqa.fit import (
    HeadsConfig,
    accuracy_and_nll,
    choose_threshold,
    choose_weights,
    fit_linear,
    mix,
    weight_grid,
)
from ingest.vqa.heads import BASE, COLOUR
from ingest.vqa.train import fit_heads

COLOURS = ("黑色", "红色", "蓝色")


def test_fit_linear_learns_a_separable_problem_the_same_way_every_time():
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    x = rng.normal(size=(90, 8)).astype(np.float32)
    x[np.arange(90), y] += 4.0
    w, b = fit_linear(x, y, 3, l2=1e-3, max_iter=50)
    assert ((x @ w + b).argmax(1) == y).mean() > 0.95
    w2, b2 = fit_linear(x, y, 3, l2=1e-3, max_iter=50)
    assert np.array_equal(w, w2) and np.array_equal(b, b2)


def _sources(n: int, right: str, rng) -> tuple[dict, dict, np.ndarray]:
    """Two sources over 3 classes; ``right`` is always correct, the other mostly wrong."""
    y = rng.integers(0, 3, n)
    good, bad = np.full((n, 3), 0.2), np.full((n, 3), 0.2)
    good[np.arange(n), y] = 0.6
    bad[np.arange(n), (y + 1) % 3] = 0.6
    probs = {"heads": good, "vote": bad} if right == "heads" else {"heads": bad, "vote": good}
    return probs, {s: np.ones(n, bool) for s in probs}, y


def test_fusion_weights_are_the_argmax_of_the_holdout_and_follow_it():
    rng = np.random.default_rng(1)
    probs, present, y = _sources(60, "heads", rng)
    weights, scores = choose_weights(probs, present, y)
    grid = [accuracy_and_nll(mix(probs, present, w), y) for w in weight_grid(list(probs))]
    assert scores["accuracy"] == pytest.approx(max(a for a, _ in grid), abs=1e-4)
    assert weights["heads"] > weights["vote"]
    # Another hold-out, on which the vote is the right source: other weights.
    probs, present, y = _sources(60, "vote", rng)
    other, _ = choose_weights(probs, present, y)
    assert other["vote"] > other["heads"] and other != weights


def test_a_source_absent_for_a_photo_does_not_count_against_it():
    probs = {"heads": np.array([[0.9, 0.1], [0.9, 0.1]]), "vote": np.array([[0, 0], [0, 1.0]])}
    present = {"heads": np.array([True, True]), "vote": np.array([False, True])}
    fused = mix(probs, present, {"heads": 0.5, "vote": 0.5})
    assert np.allclose(fused[0], [0.9, 0.1]) and np.allclose(fused[1], [0.45, 0.55])


def test_threshold_is_the_lowest_that_keeps_the_precision():
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, True, True, False, False])
    assert choose_threshold(conf, correct, 0.9, min_support=2) == 0.8
    assert choose_threshold(conf, correct, 0.9, min_support=5) is None
    assert choose_threshold(conf, ~correct, 0.9, min_support=1) is None


def _synthetic(n: int = 240, seed: int = 0):
    """Photos whose CLIP vector carries the colour; captions state colour and category."""
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 3, n)
    clip = rng.normal(size=(n, 12)).astype(np.float32)
    clip[np.arange(n), colour] += 6.0
    clip /= np.linalg.norm(clip, axis=1, keepdims=True)
    look = rng.normal(size=(n, 256)).astype(np.float32)
    hist = rng.random((n, 112)).astype(np.float32)
    captions = [f"男士{COLOURS[c]}{'衬衫' if i % 2 else 'T恤'}" for i, c in enumerate(colour)]
    held = (np.arange(n) % 5) == 0
    return PhotoFeatures(clip, look, hist), captions, held


def _encode(texts: list[str]) -> np.ndarray:
    rng = np.random.default_rng(len("".join(texts)))
    v = rng.normal(size=(len(texts), 12)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_heads_learn_and_every_choice_is_recorded():
    features, captions, held = _synthetic()
    heads = fit_heads(features, captions, held, _encode, lexicon=None)
    entry = heads.report["fields"]["color"]
    assert entry["alone"]["heads:base"] > 0.9  # the vote of random neighbours is not
    assert max(entry["fused"].values()) >= max(entry["alone"].values()) - 1e-9
    assert heads.fusion[BASE]["color"]["heads"] > 0
    assert heads.thresholds[BASE]["color"] is not None
    # A histogram of noise does not help: the colour feature set is dropped for the field.
    assert "color" not in heads.heads.get(COLOUR, {})
    assert set(heads.vocabulary.of("color")) == set(COLOURS)
    again = fit_heads(features, captions, held, _encode, lexicon=None)
    assert again.fusion == heads.fusion and again.thresholds == heads.thresholds
    assert np.array_equal(again.heads[BASE]["color"].weight, heads.heads[BASE]["color"].weight)


def test_too_small_a_holdout_falls_back_to_default_weights():
    features, captions, held = _synthetic(n=60)
    heads = fit_heads(
        features, captions, held, _encode, lexicon=None, config=HeadsConfig(min_heldout=50)
    )
    assert "too few" in heads.report["fields"]["color"]["note"]
    assert heads.thresholds.get(BASE, {}).get("color") is None
    assert sum(heads.fusion[BASE]["color"].values()) == pytest.approx(1.0)
