"""A question set at a glance: route kinds, attributes, and clusters of similar phrasings.

Clusters come from TF-IDF over jieba words and k-means; ``tuwen questions`` prints
:func:`format_question_report` of :func:`question_report`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ingest.keywords import FUNCTION_WORDS, words
from service.routing.embedding import normalise_rows
from service.routing.rules import route
from service.routing.vocabulary import QUESTION_WORDS


def tfidf(documents: Sequence[Sequence[str]]) -> tuple[np.ndarray, list[str]]:
    """TF-IDF matrix of tokenised documents, rows L2-normalised.

    Uses raw term counts and the smoothed IDF ``log((1 + n) / (1 + df)) + 1``.

    Args:
        documents: One token list per document.

    Returns:
        ``(matrix of shape (n_documents, n_terms), terms)``.
    """
    terms = sorted({t for doc in documents for t in doc})
    index = {t: i for i, t in enumerate(terms)}
    counts = np.zeros((len(documents), len(terms)))
    for row, doc in enumerate(documents):
        for term in doc:
            counts[row, index[term]] += 1
    df = (counts > 0).sum(axis=0)
    idf = np.log((1 + len(documents)) / (1 + df)) + 1
    return normalise_rows(counts * idf), terms


def kmeans(
    points: np.ndarray, k: int, *, seed: int = 0, n_init: int = 4, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """K-means with k-means++ seeding; deterministic for a given ``seed``.

    Args:
        points: ``(n, d)`` data.
        k: Number of clusters, ``1 <= k <= n``.
        seed: Random seed.
        n_init: Restarts; the run with the lowest inertia wins.
        max_iter: Iterations per restart.

    Returns:
        ``(labels of shape (n,), centres of shape (k, d))``.

    Raises:
        ValueError: When ``k`` is out of range.
    """
    n = points.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(n_init):
        centres = points[[int(rng.integers(n))]]
        while len(centres) < k:
            d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1).min(axis=1)
            total = d2.sum()
            probs = d2 / total if total > 0 else np.full(n, 1 / n)
            centres = np.vstack([centres, points[int(rng.choice(n, p=probs))]])
        labels = np.zeros(n, dtype=int)
        for iteration in range(max_iter):
            d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
            new_labels = d2.argmin(axis=1)
            if iteration > 0 and np.array_equal(new_labels, labels):
                break
            labels = new_labels
            for c in range(k):
                members = points[labels == c]
                if len(members):
                    centres[c] = members.mean(axis=0)
        inertia = float(((points - centres[labels]) ** 2).sum())
        if best is None or inertia < best[0] - 1e-12:
            best = (inertia, labels.copy(), centres.copy())
    return best[1], best[2]  # type: ignore[index]


def choose_k(n_distinct: int) -> int:
    """The default cluster count: ``round(sqrt(n_distinct / 2))`` clamped to [2, 12].

    Args:
        n_distinct: Number of distinct questions.

    Returns:
        A cluster count no larger than ``n_distinct`` (and at least 1).
    """
    return max(1, min(n_distinct, max(2, min(12, round(math.sqrt(n_distinct / 2))))))


def question_report(questions: list[str], k: int | None = None, *, seed: int = 0) -> dict:
    """Summarises a question set: kinds, attributes, and clusters of similar phrasings.

    Args:
        questions: The questions, e.g. the ``question`` fields of a ``query.json``.
        k: Number of clusters; ``None`` chooses with :func:`choose_k`.
        seed: Seed for k-means.

    Returns:
        ``{"n", "kinds", "attributes", "k", "clusters"}``: ``kinds`` and
        ``attributes`` count the rule router's decisions (an open attribute question
        counts as ``"open"``); each cluster has ``size``, ``examples`` (up to three
        distinct questions nearest its centre), ``top_terms`` and ``kinds``; clusters
        are sorted by size, largest first.

    Raises:
        ValueError: When ``k`` is less than 1.
    """
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    routes = [route(q) for q in questions]
    kinds = Counter(r.kind for r in routes)
    attributes = Counter(r.attribute or "open" for r in routes if r.kind == "attribute")
    report: dict[str, Any] = {
        "n": len(questions),
        "kinds": dict(kinds.most_common()),
        "attributes": dict(attributes.most_common()),
        "k": 0,
        "clusters": [],
    }
    if not questions:
        return report
    docs = [
        words(q, drop=FUNCTION_WORDS, extra_words=QUESTION_WORDS) or [q.strip() or "∅"]
        for q in questions
    ]
    matrix, terms = tfidf(docs)
    n_distinct = len({tuple(d) for d in docs})
    k = choose_k(n_distinct) if k is None else min(k, n_distinct)
    labels, centres = kmeans(matrix, k, seed=seed)
    clusters = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if not len(members):
            continue
        distance = ((matrix[members] - centres[c]) ** 2).sum(axis=1)
        examples: list[str] = []
        for i in members[np.argsort(distance, kind="stable")]:
            if questions[i] not in examples:
                examples.append(questions[i])
            if len(examples) == 3:
                break
        top = [terms[j] for j in np.argsort(-centres[c], kind="stable")[:5] if centres[c][j] > 0]
        member_kinds = Counter(
            routes[i].kind if routes[i].kind != "attribute" else f"attribute:{routes[i].attribute}"
            for i in members
        )
        clusters.append(
            {
                "size": len(members),
                "examples": examples,
                "top_terms": top,
                "kinds": dict(member_kinds.most_common()),
            }
        )
    clusters.sort(key=lambda c: -c["size"])
    report["k"] = k
    report["clusters"] = clusters
    return report


def format_question_report(report: Mapping[str, Any]) -> str:
    """Renders :func:`question_report` output as plain text for the terminal.

    Args:
        report: The dictionary :func:`question_report` returned.

    Returns:
        A multi-line string.
    """
    n = report["n"]

    def share(count: int) -> str:
        return f"{count:>5}  {count / n:6.1%}" if n else f"{count:>5}"

    lines = [f"questions: {n}", "", "kinds (rule router):"]
    lines += [f"  {kind:<10}{share(count)}" for kind, count in report["kinds"].items()]
    lines += ["", "attributes:"]
    lines += [f"  {name:<10}{share(count)}" for name, count in report["attributes"].items()]
    lines += ["", f"clusters (TF-IDF over jieba tokens, k-means, k={report['k']}):"]
    for i, cluster in enumerate(report["clusters"], 1):
        kinds = ", ".join(f"{k} {v}" for k, v in cluster["kinds"].items())
        lines.append(f"  #{i}  size {cluster['size']}  terms: {' '.join(cluster['top_terms'])}")
        lines.append(f"      routes: {kinds}")
        lines += [f"      - {q}" for q in cluster["examples"]]
    return "\n".join(lines)
