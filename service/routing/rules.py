"""The rule router: retrieve, describe, or an attribute question.

Regular expressions find multi-word patterns such as ``请匹配到与 X 最相关的图片``; jieba
words find search verbs (so that 搭配 does not read as 配). A product named with a request to
see it (我想看看 X, X 的图片, X，请给出对应的商品图片) or after a leading search verb (请检索：X)
is a search too, unless that text asks something or points at the photo in hand
(:func:`names_a_product`): titles hold attribute words (休闲风格, 男士, 场合) that must not
turn a search into an attribute question. Attribute cues are ranked: an
explicit topic word (颜色, 面料, 场合, 风格, 性别, ...) beats a description request, which
beats a category cue (什么商品, 什么样的), which beats a bare value word (女款, 适合,
搭配). Among topic words the one nearest the interrogative (什么, 吗, 还是, ...) wins.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ingest.keywords import jieba_tokenizer
from service.routing.vocabulary import (
    ASKING,
    CATEGORY_CUE,
    DESCRIBE_CUE,
    INTERROGATIVE,
    NAMED_RETRIEVE_PATTERNS,
    POINTS_AT_PHOTO,
    PRODUCT_TEXT_TAIL,
    QUESTION_WORDS,
    QUOTES,
    RETRIEVE_PATTERNS,
    SEARCH_LEAD,
    SEARCH_TAIL,
    SEARCH_VERBS,
    TOPIC_CUES,
    TOPIC_ORDER,
    WEAK_CUES,
)

Kind = Literal["retrieve", "describe", "attribute"]


@dataclass(frozen=True)
class Route:
    """Where a question goes.

    Attributes:
        kind: ``retrieve`` (text → images), ``describe`` (image → description) or
            ``attribute`` (image → one attribute).
        attribute: For ``attribute``: one of :data:`ingest.attributes.ATTRIBUTES`, or
            ``None`` for an open question no cue recognises.
        product_text: For ``retrieve``: the product description to search for.
    """

    kind: Kind
    attribute: str | None = None
    product_text: str | None = None


def normalise(question: str) -> str:
    """Trims ``question`` and collapses its whitespace (ideographic spaces included).

    Args:
        question: Any question.

    Returns:
        The normalised text.
    """
    text = question.replace("\u3000", " ").strip()
    return re.sub(r"\s+", " ", text)


def clean_product_text(text: str) -> str:
    """Strips quotes, whitespace and trailing punctuation from an extracted product text.

    Args:
        text: The raw product text taken from a retrieve question.

    Returns:
        The cleaned text (may be empty).
    """
    text = text.strip().strip(QUOTES).strip()
    text = PRODUCT_TEXT_TAIL.sub("", text)
    text = text.strip().strip(QUOTES + "，,。.：:；;！!？? ").strip()
    return text


def extract_product_text(question: str) -> str | None:
    """Finds the product text of a retrieve question with the retrieve patterns.

    Args:
        question: A question such as ``请匹配到与 X 最相关的图片。``.

    Returns:
        ``X`` cleaned, or ``None`` when no retrieve pattern matches.
    """
    text = normalise(question)
    for pattern in RETRIEVE_PATTERNS:
        match = pattern.search(text)
        if match:
            product = clean_product_text(match.group("x"))
            if product:
                return product
    for pattern in NAMED_RETRIEVE_PATTERNS:
        match = pattern.search(text)
        if match:
            product = clean_product_text(match.group("x"))
            if product and names_a_product(product):
                return product
    return None


def names_a_product(text: str) -> bool:
    """Whether a text taken for a product names one: it neither asks something (什么, 哪,
    吗, ...) nor points at the photo in hand (这, 图中, 它, ...)."""
    return not ASKING.search(text) and not POINTS_AT_PHOTO.search(text)


def search_product_text(question: str) -> str | None:
    """The product text of a bare search such as ``帮我找一件红色的连衣裙``.

    Args:
        question: Any question.

    Returns:
        The text after the search verb, cleaned; ``None`` when the question has no
        search verb (as a jieba word) or nothing follows it.
    """
    text = normalise(question)
    if not SEARCH_VERBS.intersection(jieba_tokenizer(QUESTION_WORDS).lcut(text)):
        return None
    product = SEARCH_TAIL.sub("", SEARCH_LEAD.sub("", text, count=1))
    return clean_product_text(product) or None


def leading_search(question: str) -> str | None:
    """The product text of a question that opens with a search request (请检索：X,
    帮我找一件 X), when that text names a product (:func:`names_a_product`).

    Such a question is a search even where the product text holds attribute words (风格,
    场合, 男士) that would otherwise make it an attribute question.
    """
    text = normalise(question)
    if not SEARCH_LEAD.match(text):
        return None
    product = search_product_text(text)
    return product if product and names_a_product(product) else None


def _spans(text: str, pattern: str | re.Pattern[str]) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(pattern, text)]


def _distance(span: tuple[int, int], others: Sequence[tuple[int, int]]) -> int:
    if not others:
        return 0
    return min(max(0, o[0] - span[1], span[0] - o[1]) for o in others)


def _topic_attribute(text: str) -> str | None:
    found: dict[str, list[tuple[int, int]]] = {}
    for attribute in TOPIC_ORDER:
        spans = [s for p in TOPIC_CUES[attribute] for s in _spans(text, p)]
        if spans:
            found[attribute] = spans
    if not found:
        return None
    questions = _spans(text, INTERROGATIVE)

    def rank(attribute: str) -> tuple[int, int]:
        nearest = min(_distance(s, questions) for s in found[attribute])
        return nearest, TOPIC_ORDER.index(attribute)

    return min(found, key=rank)


def route(question: str) -> Route:
    """Routes a question by rules (regular expressions and jieba words).

    Args:
        question: The user's question, any phrasing.

    Returns:
        The :class:`Route`. Questions no cue recognises become
        ``Route("attribute", None, None)`` (an open question about the image).
    """
    text = normalise(question)
    product = extract_product_text(text)
    if product is None:
        product = leading_search(text)
    if product is not None:
        return Route("retrieve", None, product)
    topic = _topic_attribute(text)
    if topic is not None:
        return Route("attribute", topic)
    if DESCRIBE_CUE.search(text):
        return Route("describe")
    product = search_product_text(text)
    if product is not None:
        return Route("retrieve", None, product)
    if CATEGORY_CUE.search(text):
        return Route("attribute", "category")
    for attribute, pattern in WEAK_CUES:
        if pattern.search(text):
            return Route("attribute", attribute)
    return Route("attribute", None)
