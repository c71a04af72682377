"""The embedding router: the nearest centroid of labelled example phrasings.

A sentence encoder (injected: anything with ``encode(list[str])``) embeds example
phrasings per label; a question goes to the label whose centroid is nearest, and to the
rule router when the centroids are unsure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from ingest.attributes import ATTRIBUTES
from service.routing.rules import (
    Route,
    clean_product_text,
    extract_product_text,
    route,
    search_product_text,
)


class SentenceEncoder(Protocol):
    """What :class:`EmbeddingRouter` needs: a sentence-transformers style ``encode``."""

    def encode(self, sentences: list[str]) -> Any:
        """Returns one embedding row per sentence."""
        ...


DEFAULT_EXAMPLES: Mapping[str, tuple[str, ...]] = {
    "retrieve": (
        "请匹配到与 黑色男士衬衫 最相关的图片。",
        "找出与白色运动鞋最匹配的图片",
        "哪张图片最符合红色连衣裙",
        "检索蓝色牛仔裤的图片",
        "帮我找一张女士手提包的照片",
        "我想看看男士休闲风格的夹克",
        "女士碎花连衣裙，请给出对应的商品图片",
    ),
    "describe": (
        "请对给定的图片进行描述。",
        "描述一下这张图片",
        "介绍一下图中的商品",
        "说说这张图里是什么",
        "请为这件商品写一段描述",
    ),
    "attribute:color": ("图中商品是什么颜色？", "这件衣服是什么色的", "这双鞋的颜色是？"),
    "attribute:category": ("这是一款什么商品？", "图中是什么类型的商品？", "这属于哪一类商品"),
    "attribute:gender": ("这是男款还是女款？", "图中是女款服装吗？", "这件适合男生还是女生"),
    "attribute:usage": ("这款商品适合什么场合？", "这件衣服适合什么时候穿", "它的用途是什么"),
    "attribute:material": ("这款衬衫的面料是什么？", "这件衣服是什么材质", "它是用什么做的"),
    "attribute:style": ("这件衣服是什么风格？", "这款包属于哪种风格", "图中服装的风格是"),
    "attribute:shoes": ("图中模特搭配了什么鞋子？", "模特脚上穿的是什么鞋", "这身衣服配了什么鞋"),
}
"""Example phrasings per label: ``retrieve``, ``describe`` or ``attribute:<name>``."""


def label_route(label: str, question: str) -> Route:
    """The :class:`Route` of ``question`` under an example label.

    Args:
        label: ``retrieve``, ``describe`` or ``attribute:<name>``.
        question: The question (a retrieve route takes its product text from it).

    Returns:
        The route; an unknown attribute name becomes an open attribute question.

    Raises:
        ValueError: When the label is none of the three forms.
    """
    if label == "retrieve":
        product = extract_product_text(question) or search_product_text(question)
        return Route("retrieve", None, product or clean_product_text(question))
    if label == "describe":
        return Route("describe")
    if label.startswith("attribute:"):
        attribute = label.split(":", 1)[1]
        return Route("attribute", attribute if attribute in ATTRIBUTES else None)
    raise ValueError(
        f"unknown example label {label!r}: use 'retrieve', 'describe' or 'attribute:<name>' "
        f"with <name> in {ATTRIBUTES}"
    )


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Scales each row of ``matrix`` to unit L2 norm (all-zero rows stay zero).

    Args:
        matrix: A 2-D array.

    Returns:
        The normalised array.
    """
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class EmbeddingRouter:
    """Routes by the nearest centroid of labelled example phrasings.

    Args:
        model: A sentence encoder, e.g. a ``sentence_transformers.SentenceTransformer``
            (anything with ``encode(list[str])`` returning one row per sentence).
        examples: ``{label: phrasings}`` with labels ``retrieve``, ``describe`` or
            ``attribute:<name>``; defaults to :data:`DEFAULT_EXAMPLES`.
        min_similarity: Below this cosine similarity to the best centroid the rule
            router decides.
        min_margin: Below this gap between the best and second-best centroid the rule
            router decides.

    Raises:
        ValueError: When a label is unknown or has no phrasings.
    """

    def __init__(
        self,
        model: SentenceEncoder,
        examples: Mapping[str, Sequence[str]] | None = None,
        *,
        min_similarity: float = 0.5,
        min_margin: float = 0.05,
    ) -> None:
        examples = DEFAULT_EXAMPLES if examples is None else examples
        for label, phrasings in examples.items():
            label_route(label, "")
            if not phrasings:
                raise ValueError(f"example label {label!r} has no phrasings; give at least one")
        self.model = model
        self.labels = list(examples)
        self.min_similarity = min_similarity
        self.min_margin = min_margin
        centroids = []
        for label in self.labels:
            vectors = self._embed(list(examples[label]))
            centroids.append(vectors.mean(axis=0))
        self.centroids = normalise_rows(np.stack(centroids))

    def _embed(self, sentences: list[str]) -> np.ndarray:
        vectors = np.asarray(self.model.encode(sentences), dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[0] != len(sentences):
            raise ValueError(
                f"the encoder returned shape {vectors.shape} for {len(sentences)} sentences; "
                "it must return one embedding row per sentence"
            )
        return normalise_rows(vectors)

    def classify(self, question: str) -> tuple[str, float, float]:
        """Scores ``question`` against the label centroids.

        Args:
            question: The user's question.

        Returns:
            ``(best label, its cosine similarity, margin over the runner-up)``.
        """
        sims = self.centroids @ self._embed([question])[0]
        order = np.argsort(-sims)
        best = float(sims[order[0]])
        second = float(sims[order[1]]) if len(order) > 1 else -1.0
        return self.labels[int(order[0])], best, best - second

    def route(self, question: str) -> Route:
        """Routes ``question``; the rule router decides when the centroids are unsure.

        Args:
            question: The user's question.

        Returns:
            The :class:`Route`.
        """
        label, similarity, margin = self.classify(question)
        if similarity < self.min_similarity or margin < self.min_margin:
            return route(question)
        return label_route(label, question)
