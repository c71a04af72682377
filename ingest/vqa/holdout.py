"""The choices the VQA stage makes on the training hold-out, run as answering runs them.

For each held-out photo: its nearest training photos as the service finds neighbours (CLIP and
look rankings fused with RRF, :func:`heldout_neighbours`), their vote, CLIP zero-shot against
each value's text vector (the value word, or the mean of the training captions stating it,
:func:`text_vectors`) and the heads' probabilities; then, per field (:func:`choose`), the
zero-shot temperature, the fusion weights of each feature set, whether the colour histogram
is kept, and the captioner's confidence threshold.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ingest.vqa.features import PhotoFeatures
from ingest.vqa.fit import (
    HeadsConfig,
    accuracy_and_nll,
    choose_temperature,
    choose_threshold,
    choose_weights,
    mix,
)
from ingest.vqa.heads import BASE, COLOUR, AnswerHeads
from ingest.vqa.sources import HEADS, VOTE, ZERO_SHOT, neighbour_vote, softmax

log = logging.getLogger(__name__)

#: Fusion weights when there is no hold-out to choose them on.
UNCHOSEN_WEIGHTS = {HEADS: 0.4, ZERO_SHOT: 0.2, VOTE: 0.4}


def heldout_neighbours(
    features: PhotoFeatures, train: np.ndarray, config: HeadsConfig
) -> list[list[tuple[int, float]]]:
    """For each held-out photo, its nearest training photos as the service finds them: the
    CLIP and look rankings fused with RRF (``(training row, fused score)``, best first)."""
    train_rows = np.flatnonzero(train)
    held_rows = np.flatnonzero(~train)
    depth = min(max(50, config.neighbours), len(train_rows))  # the service's prefetch
    legs = [features.clip] + ([features.look] if features.look is not None else [])
    ranked_legs = []
    for vectors in legs:
        cos = vectors[held_rows] @ vectors[train_rows].T
        ranked_legs.append(np.argsort(-cos, axis=1, kind="stable")[:, :depth])
    out = []
    for r in range(len(held_rows)):
        scores: dict[int, float] = {}
        for ranked in ranked_legs:
            for rank, j in enumerate(ranked[r]):
                row = int(train_rows[j])
                scores[row] = scores.get(row, 0.0) + 1.0 / (config.rrf_k + rank + 1)
        out.append(sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[: config.neighbours])
    return out


def text_vectors(
    name: str,
    values: Sequence[str],
    labels: np.ndarray,
    train: np.ndarray,
    held: np.ndarray,
    caption_vectors: np.ndarray,
    features: PhotoFeatures,
    encode_texts: Callable[[list[str]], np.ndarray],
) -> np.ndarray:
    """The zero-shot text vector of each value: the value word's own vector, or the mean
    vector of the training captions that state it, whichever does better on the hold-out."""
    words = np.asarray(encode_texts(list(values)), dtype=np.float32)
    train_labels = labels[train]
    centroids = words.copy()
    for c in range(len(values)):
        rows = caption_vectors[train_labels == c]
        if len(rows):
            mean = rows.mean(0)
            centroids[c] = mean / max(float(np.linalg.norm(mean)), 1e-6)
    rows = held & (labels >= 0)
    if rows.sum() == 0:
        return words
    scored = []
    for kind, vectors in (("word", words), ("captions", centroids)):
        cos = features.clip[rows] @ vectors.T
        t = choose_temperature(cos, labels[rows])
        acc, nll = accuracy_and_nll(softmax(t * cos), labels[rows])
        scored.append((acc, -nll, kind, vectors))
    best = max(scored, key=lambda s: (s[0], s[1]))
    log.info("zero-shot %s: %s text vectors", name, best[2])
    return best[3]


def choose(
    heads: AnswerHeads,
    name: str,
    probs: dict[str, dict[str, np.ndarray]],
    text: np.ndarray,
    labels: np.ndarray,
    held: np.ndarray,
    neighbours: list[list[tuple[int, float]]],
    attrs: list[dict[str, str]],
    features: PhotoFeatures,
    config: HeadsConfig,
    temperature: float,
    report: dict,
) -> None:
    """Chooses the field's zero-shot temperature, fusion weights and captioner thresholds."""
    values = heads.vocabulary.of(name)
    held_rows = np.flatnonzero(held)
    keep = labels[held_rows] >= 0
    y = labels[held_rows][keep]
    entry: dict = {"heldout": int(keep.sum())}
    report.setdefault("fields", {})[name] = entry
    cos = features.clip[held_rows] @ text.T
    if keep.sum() < config.min_heldout:
        heads.temperature[name] = float(temperature)
        for v in probs or {BASE: {}}:
            heads.fusion.setdefault(v, {})[name] = {
                s: w for s, w in UNCHOSEN_WEIGHTS.items() if s != HEADS or probs
            }
        entry["note"] = "too few held-out photos: default weights, no captioner threshold"
        return
    heads.temperature[name] = choose_temperature(cos[keep], y)
    index = {v: i for i, v in enumerate(values)}
    vote = np.zeros((len(held_rows), len(values)))
    for r, found in enumerate(neighbours):
        dist = neighbour_vote([(attrs[j], s) for j, s in found], [name]).get(name, {})
        for value, p in dist.items():
            if value in index:
                vote[r, index[value]] = p
    shared = {ZERO_SHOT: softmax(heads.temperature[name] * cos)[keep], VOTE: vote[keep]}
    alone = {s: accuracy_and_nll(p, y)[0] for s, p in shared.items()}
    fused: dict[str, float] = {}
    for v, sources in (probs or {BASE: {}}).items():
        p = {**{s: a[keep] for s, a in sources.items()}, **shared}
        present = {s: a.sum(1) > 0 for s, a in p.items()}
        weights, scores = choose_weights(p, present, y)
        heads.fusion.setdefault(v, {})[name] = weights
        fused[v] = scores["accuracy"]
        if HEADS in p:
            alone[f"{HEADS}:{v}"] = accuracy_and_nll(p[HEADS], y)[0]
            heads.thresholds.setdefault(v, {})[name] = _threshold(p, present, weights, y, config)
    if COLOUR in fused and fused[COLOUR] <= fused[BASE]:
        del heads.heads[COLOUR][name]  # the histogram did not help this field: base only
        heads.fusion[COLOUR].pop(name, None)
        heads.thresholds.get(COLOUR, {}).pop(name, None)
    entry.update(
        alone={k: round(a, 4) for k, a in alone.items()},
        fused={k: round(a, 4) for k, a in fused.items()},
        weights={v: heads.fusion[v][name] for v in fused if name in heads.fusion.get(v, {})},
        thresholds={v: t[name] for v, t in heads.thresholds.items() if name in t},
        temperature=heads.temperature[name],
    )


def _threshold(
    probs: Mapping[str, np.ndarray],
    present: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    labels: np.ndarray,
    config: HeadsConfig,
) -> float | None:
    """The captioner's threshold: on the heads and zero-shot fused without the vote (the
    captioner sees no neighbours), the lowest confidence that kept ``precision``."""
    own = {s: w for s, w in weights.items() if s != VOTE}
    if sum(own.values()) <= 0:
        own = {HEADS: 1.0}
    p = mix({s: probs[s] for s in own}, present, own)
    support = max(5, math.ceil(0.05 * len(labels)))
    return choose_threshold(p.max(1), p.argmax(1) == labels, config.precision, support)
