"""The pixel network: it learns what the stored vectors and the colour histogram do not carry
(a product's shape), is mixed into the heads only where the hold-out says it helps, and is
saved and loaded with the heads."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.vqa.features import PhotoFeatures
from ingest.vqa.fit import HeadsConfig, choose_share
from ingest.vqa.heads import COLOUR, AnswerHeads
from ingest.vqa.pixelnet import PixelNetConfig, train_pixel_net
from ingest.vqa.train import fit_heads
from tests.ingest.vqa.test_fit import _encode

COLOURS = {"红色": (200, 30, 30), "蓝色": (30, 40, 200)}
SMALL = PixelNetConfig(size=32, width=8, epochs=12, batch=32, lr=5e-3)


def _photos(n: int = 240, seed: int = 0):
    """White photos of a red or blue product, a square (衬衫) or a bar (T恤) of the same area,
    so the colour histogram cannot tell the two shapes apart; the CLIP and look vectors are
    noise."""
    rng = np.random.default_rng(seed)
    pixels = np.full((n, 32, 32, 3), 255, dtype=np.uint8)
    captions = []
    names = list(COLOURS)
    for i in range(n):
        colour, square = names[i % 2], (i // 2) % 2 == 0
        cy, cx = 16 + rng.integers(-2, 3), 16 + rng.integers(-2, 3)
        h, w = (6, 6) if square else (3, 12)
        pixels[i, cy - h : cy + h, cx - w : cx + w] = COLOURS[colour]
        captions.append(f"男士{colour}{'衬衫' if square else 'T恤'}")
    from ingest.vqa.features import colour_features

    clip = rng.normal(size=(n, 12)).astype(np.float32)
    clip /= np.linalg.norm(clip, axis=1, keepdims=True)
    look = rng.normal(size=(n, 256)).astype(np.float32)
    features = PhotoFeatures(clip, look, colour_features(pixels), pixels)
    held = (np.arange(n) % 5) == 0
    return features, captions, held


@pytest.fixture(scope="module")
def shaped_heads() -> tuple[AnswerHeads, PhotoFeatures, np.ndarray]:
    features, captions, held = _photos()
    config = HeadsConfig(min_heldout=10, pixel_net=SMALL)
    return fit_heads(features, captions, held, _encode, lexicon=None, config=config), features, held


def test_the_network_reads_the_shape_the_heads_cannot(shaped_heads):
    heads, _, _ = shaped_heads
    entry = heads.report["fields"]["category"]
    assert entry["alone"]["pixelnet"] > 0.9
    assert entry["alone"]["linear:colour"] < 0.75  # noise vectors and an equal-area histogram
    assert heads.pixel_mix["category"] > 0 and entry["pixel_share"] == heads.pixel_mix["category"]
    assert entry["fused"][COLOUR] > 0.9


def test_the_mixed_probabilities_survive_saving(shaped_heads, tmp_path):
    heads, features, held = shaped_heads
    heads.save(tmp_path)
    loaded = AnswerHeads.load(tmp_path)
    assert loaded is not None and loaded.pixel_net is not None
    assert loaded.pixel_mix == heads.pixel_mix
    rows = np.flatnonzero(held)[:8]
    sub = PhotoFeatures(
        features.clip[rows], features.look[rows], features.colour[rows], features.pixels[rows]
    )
    before, after = heads.probabilities(sub), loaded.probabilities(sub)
    for name, (variant, p) in before.items():
        assert after[name][0] == variant
        assert np.allclose(after[name][1], p, atol=1e-6), name
    # Without the pixels the network is left out: the colour feature set is not used.
    plain = loaded.probabilities(PhotoFeatures(features.clip[rows], features.look[rows]))
    assert all(variant != COLOUR for variant, _ in plain.values())


def test_training_is_repeatable_from_the_seed():
    features, captions, held = _photos(n=60)
    labels = {"category": np.asarray([0 if "衬衫" in c else 1 for c in captions])}
    classes = {"category": ("衬衫", "T恤")}
    config = PixelNetConfig(size=32, width=4, epochs=2, batch=16, threads=1)
    a = train_pixel_net(features.pixels, labels, classes, ~held, config)
    b = train_pixel_net(features.pixels, labels, classes, ~held, config)
    pa, pb = a.probs(features.pixels), b.probs(features.pixels)
    assert np.array_equal(pa["category"], pb["category"])
    assert pa["category"].shape == (60, 2)
    assert np.allclose(pa["category"].sum(1), 1.0)


def test_the_share_is_the_one_that_scores_best():
    labels = np.array([0, 1, 0, 1])
    useless = np.full((4, 2), 0.5)
    right = np.eye(2)[labels]
    assert choose_share(useless, right, labels) > 0
    assert choose_share(right, useless, labels) == 0.0
