"""The three sources of candidate answers and their fusion, as plain arrays.

- **answer heads** (:mod:`ingest.vqa.heads`): a classifier per field over the photo;
- **CLIP zero-shot** (:func:`zero_shot`): the photo's vector against text vectors of the
  field's candidate answers;
- **the neighbour vote** (:func:`neighbour_vote`): a score-weighted vote over the attributes of
  the photo's nearest captioned products.

Each gives a distribution over a field's values; :func:`fuse` mixes them with weights chosen
on the training hold-out (:mod:`ingest.vqa.fit`). The same functions serve training (to choose
the weights) and answering, so the weights fit what answering computes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

HEADS, ZERO_SHOT, VOTE = "heads", "zeroshot", "vote"
SOURCES: tuple[str, ...] = (HEADS, ZERO_SHOT, VOTE)

#: Fusion weights without answer heads (a downloaded CLIP): the vote, which reads the
#: catalog's own captions, leads; zero-shot breaks its ties and speaks where it is silent.
DEFAULT_WEIGHTS: dict[str, float] = {HEADS: 0.0, ZERO_SHOT: 0.3, VOTE: 0.7}

Distribution = dict[str, float]


def vote_weights(scores: Sequence[float]) -> list[float]:
    """Weights for a vote over candidates ranked by score (best first).

    Each weight is ``exp((score - best) / spread) / sqrt(rank + 1)``, where ``spread`` is
    the range of the scores: the weakest candidate's score factor is ``e**-1`` and the
    result does not depend on the score scale (cosine or RRF). The square-root rank decay
    lets two close runners-up that agree outvote the top hit, while a clearly better top
    hit outweighs weak agreeing candidates.

    Args:
        scores: Candidate scores, best first.

    Returns:
        One positive weight per score.
    """
    if not scores:
        return []
    best, worst = max(scores), min(scores)
    spread = best - worst
    weights = []
    for rank, score in enumerate(scores):
        factor = math.exp((score - best) / spread) if spread > 0 else 1.0
        weights.append(factor / math.sqrt(rank + 1))
    return weights


def neighbour_vote(
    neighbours: Sequence[tuple[Mapping[str, str | None], float]], fields: Sequence[str]
) -> dict[str, Distribution]:
    """The neighbours' vote per field, as shares of the vote weight.

    Args:
        neighbours: ``(attributes, score)`` of each captioned neighbour, best first.
        fields: The fields to count.

    Returns:
        Field → value → share (summing to 1); a field no neighbour states is absent.
    """
    weights = vote_weights([s for _, s in neighbours])
    out: dict[str, Distribution] = {}
    for name in fields:
        totals: Distribution = {}
        for (attrs, _), w in zip(neighbours, weights, strict=True):
            value = attrs.get(name)
            if value:
                totals[value] = totals.get(value, 0.0) + w
        total = sum(totals.values())
        if total > 0:
            out[name] = {v: t / total for v, t in totals.items()}
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (float64, stable)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def zero_shot(
    image_vectors: np.ndarray, text_vectors: np.ndarray, temperature: float
) -> np.ndarray:
    """CLIP zero-shot: a softmax over the cosines of photos and the candidates' text vectors.

    Args:
        image_vectors: ``(N, D)`` or ``(D,)`` unit-length image vectors.
        text_vectors: ``(C, D)`` unit-length text vectors, one per candidate answer.
        temperature: The logit scale (CLIP's ``exp(logit_scale)``, or one chosen on a hold-out).

    Returns:
        ``(N, C)`` (or ``(C,)``) probabilities.
    """
    return softmax(temperature * (np.asarray(image_vectors) @ np.asarray(text_vectors).T))


def fuse(dists: Mapping[str, Distribution | None], weights: Mapping[str, float]) -> Distribution:
    """A weighted mixture of the sources' distributions over one field.

    Sources that are absent (``None`` or empty) or weighted 0 are left out and the weights of
    the others rescaled to sum to 1; a source's missing values count as 0.

    Args:
        dists: Source name → value → probability.
        weights: Source name → weight.

    Returns:
        Value → probability, best first (ties: the order the values were first seen);
        empty when no source speaks.
    """
    present = [(s, d) for s, d in dists.items() if d and weights.get(s, 0.0) > 0]
    total = sum(weights[s] for s, _ in present)
    if total <= 0:
        return {}
    mixed: Distribution = {}
    for source, dist in present:
        w = weights[source] / total
        for value, p in dist.items():
            mixed[value] = mixed.get(value, 0.0) + w * p
    return dict(sorted(mixed.items(), key=lambda vp: -vp[1]))


def top(dist: Distribution, n: int = 3, floor: float = 0.0) -> list[tuple[str, float]]:
    """The ``n`` most probable values of a distribution with probability at least ``floor``."""
    ranked = sorted(dist.items(), key=lambda vp: -vp[1])
    return [(v, p) for v, p in ranked[:n] if p >= floor]
