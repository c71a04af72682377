"""The settings of answer-head training (:class:`HeadsConfig`) and the choices made on the
training hold-out: the heads' weights (:func:`fit_linear`), the
zero-shot temperature (:func:`choose_temperature`), the fusion weights (:func:`choose_weights`)
and the captioner's confidence thresholds (:func:`choose_threshold`).

Everything here is deterministic for the same inputs: full-batch L-BFGS from zeros for a set
number of iterations, and exhaustive searches over fixed grids with fixed tie-breaks.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ingest.vqa.pixelnet import PixelNetConfig
from ingest.vqa.sources import softmax

#: The fusion weight grid: every split of 1 into steps of this size.
WEIGHT_STEP = 0.1
#: Zero-shot temperatures tried (CLIP's own is at most 100).
TEMPERATURES: tuple[float, ...] = (5.0, 10.0, 20.0, 30.0, 50.0, 100.0)
_EPS = 1e-9


@dataclass(frozen=True)
class HeadsConfig:
    """How the heads are trained.

    Attributes:
        holdout: Share of captioned photos held out (the same split as the CLIP's).
        min_count: Captions a value needs to be a candidate answer.
        l2: Weight penalty of the heads.
        max_iter: L-BFGS iterations per head (the bound on training; no wall clock).
        neighbours: Neighbours in the hold-out vote (``TUWEN_TOP_K``'s default).
        rrf_k: RRF constant fusing the CLIP and look rankings of neighbours (the service's).
        precision: Precision the captioner's thresholds must reach on the hold-out.
        colour: Also train heads that read the colour histogram.
        min_heldout: Fewest labelled held-out photos for a field's choices to be made on the
            hold-out (fewer: defaults, and no captioner threshold).
        pixel_net: How to train the network that reads the fields from the pixels
            (:mod:`ingest.vqa.pixelnet`); ``None``: none. It is trained with the colour heads
            (it needs the pixels too) and kept for a field only where it helps on the hold-out.
    """

    holdout: float = 0.1
    min_count: int = 2
    l2: float = 3e-3
    max_iter: int = 100
    neighbours: int = 16
    rrf_k: int = 10
    precision: float = 0.9
    colour: bool = True
    min_heldout: int = 20
    pixel_net: PixelNetConfig | None = PixelNetConfig()

    @classmethod
    def of(
        cls, holdout: float, pixel_epochs: int, seed: int = 0, threads: int | None = None
    ) -> HeadsConfig:
        """The settings ``tuwen finetune`` trains with: its hold-out share, the pixel
        network's epochs (0: none), seed and threads (``None``: every core)."""
        net = (
            PixelNetConfig(epochs=pixel_epochs, seed=seed, threads=threads or 0)
            if pixel_epochs > 0
            else None
        )
        return cls(holdout=holdout, pixel_net=net)


def fit_linear(
    x: np.ndarray, y: np.ndarray, n_classes: int, *, l2: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """A softmax classifier by full-batch L-BFGS from zeros (deterministic, no wall clock).

    Args:
        x: ``(N, F)`` standardised features.
        y: ``(N,)`` class indices in ``[0, n_classes)``.
        n_classes: Number of classes.
        l2: Weight of the squared-norm penalty on the weights (mean cross-entropy + l2·‖W‖²).
        max_iter: L-BFGS iterations.

    Returns:
        ``(weight (F, C), bias (C,))`` as float32.
    """
    from scipy.optimize import minimize

    xs = np.ascontiguousarray(x, dtype=np.float32)
    n, f = xs.shape
    labels = np.asarray(y, dtype=np.int64)
    rows = np.arange(n)

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        # The matrix products in float32 (the cost), the sums and the optimiser in float64.
        w = theta[: f * n_classes].reshape(f, n_classes)
        z = (xs @ w.astype(np.float32)).astype(np.float64) + theta[f * n_classes :]
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -logp[rows, labels].sum() / n + l2 * (w * w).sum()
        dz = np.exp(logp)
        dz[rows, labels] -= 1.0
        dz /= n
        dw = (xs.T @ dz.astype(np.float32)).astype(np.float64) + 2 * l2 * w
        return float(loss), np.concatenate([dw.ravel(), dz.sum(axis=0)])

    found = minimize(
        loss_and_grad,
        np.zeros(f * n_classes + n_classes),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter},
    )
    theta = found.x
    weight = theta[: f * n_classes].reshape(f, n_classes).astype(np.float32)
    return weight, theta[f * n_classes :].astype(np.float32)


def accuracy_and_nll(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy of the argmax and mean negative log-probability of the true class.

    Args:
        probs: ``(N, C)`` probabilities (a row of zeros: no answer, counted wrong).
        labels: ``(N,)`` true class indices.
    """
    if len(labels) == 0:
        return 0.0, 0.0
    answered = probs.sum(1) > 0
    right = answered & (probs.argmax(1) == labels)
    nll = -np.log(probs[np.arange(len(labels)), labels] + _EPS)
    return float(right.mean()), float(nll.mean())


def choose_share(head: np.ndarray, other: np.ndarray, labels: np.ndarray) -> float:
    """The share of ``other`` in a mixture with ``head`` with the best hold-out accuracy
    (ties: the lower negative log-likelihood, then the smaller share), in steps of
    :data:`WEIGHT_STEP`.

    Args:
        head: ``(N, C)`` probabilities of one classifier.
        other: ``(N, C)`` probabilities of another, over the same classes.
        labels: ``(N,)`` true class indices.
    """
    best: tuple[float, float, float] | None = None
    for k in range(round(1 / WEIGHT_STEP) + 1):
        share = round(k * WEIGHT_STEP, 6)
        acc, nll = accuracy_and_nll((1 - share) * head + share * other, labels)
        if best is None or (acc, -nll) > (best[1], -best[2]):
            best = (share, acc, nll)
    assert best is not None
    return best[0]


def choose_temperature(cosines: np.ndarray, labels: np.ndarray) -> float:
    """The zero-shot temperature with the lowest hold-out negative log-likelihood.

    Args:
        cosines: ``(N, C)`` cosines of hold-out photos and the candidates' text vectors.
        labels: ``(N,)`` true class indices.
    """
    best = min(TEMPERATURES, key=lambda t: (accuracy_and_nll(softmax(t * cosines), labels)[1], t))
    return float(best)


def weight_grid(sources: Sequence[str], step: float = WEIGHT_STEP) -> list[dict[str, float]]:
    """Every weighting of ``sources`` in steps of ``step`` that sums to 1, in a fixed order."""
    n = round(1 / step)
    grid = []
    for parts in itertools.product(range(n + 1), repeat=len(sources)):
        if sum(parts) == n:
            grid.append({s: round(p * step, 6) for s, p in zip(sources, parts, strict=True)})
    return grid


def mix(
    probs: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray], weights: Mapping[str, float]
) -> np.ndarray:
    """The fused ``(N, C)`` probabilities: each row mixes the sources present for it, their
    weights rescaled to sum to 1 (:func:`ingest.vqa.sources.fuse` on arrays)."""
    total = None
    norm = None
    for source, p in probs.items():
        w = weights.get(source, 0.0) * present[source].astype(np.float64)
        term = w[:, None] * p
        total = term if total is None else total + term
        norm = w if norm is None else norm + w
    assert total is not None and norm is not None
    return np.where(norm[:, None] > 0, total / np.maximum(norm, _EPS)[:, None], 0.0)


def choose_weights(
    probs: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray], labels: np.ndarray
) -> tuple[dict[str, float], dict[str, float]]:
    """The fusion weights with the best hold-out accuracy (ties: the lower negative
    log-likelihood, then the first in grid order).

    Args:
        probs: Source → ``(N, C)`` probabilities over the field's vocabulary.
        present: Source → ``(N,)`` whether the source speaks for each photo.
        labels: ``(N,)`` true class indices.

    Returns:
        ``(weights, {"accuracy", "nll"})`` of the chosen weighting on the hold-out.
    """
    best: tuple[float, float] | None = None
    chosen: dict[str, float] = {}
    for weights in weight_grid(list(probs)):
        acc, nll = accuracy_and_nll(mix(probs, present, weights), labels)
        if best is None or (acc, -nll) > (best[0], -best[1]):
            best, chosen = (acc, nll), weights
    assert best is not None
    return chosen, {"accuracy": round(best[0], 4), "nll": round(best[1], 4)}


def choose_threshold(
    confidence: np.ndarray, correct: np.ndarray, precision: float, min_support: int
) -> float | None:
    """The lowest confidence above which answers were right at least ``precision`` of the time.

    Args:
        confidence: ``(N,)`` the top answer's probability per hold-out photo.
        correct: ``(N,)`` whether that answer was right.
        precision: The precision wanted, e.g. 0.9.
        min_support: Fewest hold-out answers the threshold must keep.

    Returns:
        The threshold (answers with confidence ≥ it are kept), or ``None`` when no threshold
        keeps ``min_support`` answers at that precision.
    """
    order = np.argsort(-confidence, kind="stable")
    conf, ok = confidence[order], correct[order].astype(np.float64)
    hits = np.cumsum(ok)
    chosen = None
    for i in range(len(conf)):
        if i + 1 < len(conf) and conf[i + 1] == conf[i]:
            continue  # a threshold keeps every answer of equal confidence
        if i + 1 >= min_support and hits[i] / (i + 1) >= precision:
            chosen = float(conf[i])
    return chosen
