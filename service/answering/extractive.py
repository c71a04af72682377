"""Answers composed from retrieved captions without a language model.

The extractive answering strategy: every answer is a score-weighted vote over the
attributes parsed from the retrieved neighbours' captions (the questioned image's own
caption, when it has one, outweighs all of them), phrased as a short Chinese sentence, and
cites the files that voted for the winner.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.hits import Hit
from service.attributes import (
    ATTRIBUTE_LABELS,
    FOOTWEAR_SUFFIXES,
    MATERIAL_WORDS,
    STYLE_WORDS,
    Attributes,
    canonical_usage,
    find_terms,
    parse_caption,
)
from service.routing import Route

_USAGE_PHRASES = {
    "休闲": "日常休闲",
    "正装": "正装（正式）",
    "民族风": "民族风（传统节庆）",
    "智能休闲": "智能休闲（商务休闲）",
}

# How many files an answer that found nothing cites (the captions it read).
_CONSULTED = 3


@dataclass(frozen=True)
class _Voter:
    file: str | None
    weight: float
    caption: str
    attributes: Attributes


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


def _voters(candidates: Sequence[Hit], own_caption: str | None) -> list[_Voter]:
    ranked = sorted((c for c in candidates if c.caption), key=lambda c: -c.score)
    weights = vote_weights([c.score for c in ranked])
    voters = [
        _Voter(c.file, w, c.caption or "", parse_caption(c.caption or ""))
        for c, w in zip(ranked, weights, strict=True)
    ]
    if own_caption and own_caption.strip():
        voters.insert(0, _Voter(None, sum(weights) + 1.0, own_caption, parse_caption(own_caption)))
    return voters


def _vote(ballots: Sequence[tuple[str | None, float, str | None]]) -> tuple[str | None, list[str]]:
    """Returns the value with the most weight (ties: best rank) and the files voting for it."""
    totals: dict[str, float] = {}
    for value, weight, _ in ballots:
        if value:
            totals[value] = totals.get(value, 0.0) + weight
    if not totals:
        return None, []
    winner = max(totals, key=lambda v: totals[v])  # dict order = rank order breaks ties
    files = [f for v, _, f in ballots if v == winner and f is not None]
    return winner, list(dict.fromkeys(files))


def _field_vote(voters: Sequence[_Voter], name: str) -> tuple[str | None, list[str]]:
    return _vote([(getattr(v.attributes, name), v.weight, v.file) for v in voters])


def _term_vote(
    voters: Sequence[_Voter], terms_of: Callable[[_Voter], list[str]]
) -> tuple[str | None, list[str]]:
    ballots = [(term, v.weight, v.file) for v in voters for term in dict.fromkeys(terms_of(v))]
    return _vote(ballots)


def _consulted(voters: Sequence[_Voter]) -> list[str]:
    return [v.file for v in voters if v.file is not None][:_CONSULTED]


def _attribute_sentence(attribute: str, value: str) -> str:
    if attribute == "color":
        return f"图中商品是{value}的。"
    if attribute == "category":
        return f"图中商品是一款{value}。"
    if attribute == "gender":
        return f"这是{value}款。"
    if attribute == "usage":
        return f"这款商品适合{_USAGE_PHRASES.get(value, value)}场合。"
    if attribute == "material":
        return f"根据目录说明，这款商品的面料是{value}。"
    if attribute == "style":
        return f"这款商品是{value}风格。"
    if attribute == "shoes":
        return f"相似商品的目录说明中提到的鞋子是{value}。"
    return f"{ATTRIBUTE_LABELS.get(attribute, attribute)}是{value}。"


def _describe(voters: Sequence[_Voter]) -> tuple[str | None, list[str]]:
    category, category_files = _field_vote(voters, "category")
    gender, gender_files = _field_vote(voters, "gender")
    color, color_files = _field_vote(voters, "color")
    usage, _ = _field_vote(voters, "usage")
    coherent = [v for v in voters if category is None or v.attributes.category == category]
    brand, _ = _field_vote(coherent, "brand")
    if not any((category, gender, color, usage, brand)):
        return None, []
    style = ""
    if usage:
        style = f"{usage}的" if usage.endswith("风") else f"{usage}风格的"
    brand = " ".join(brand.split()) if brand else ""  # "Allen  Solly" reads "Allen Solly"
    text = f"这是一款{brand}{gender or ''}{color or ''}{style}{category or '商品'}。"
    return text, category_files or color_files or gender_files


def extractive_answer(
    route: Route, candidates: Sequence[Hit], own_caption: str | None = None
) -> tuple[str, list[str]]:
    """Answers a routed question from the candidates' captions, without a language model.

    Args:
        route: The routed question.
        candidates: Retrieved products (any order; ranked here by score). All of them
            vote: the strategy reads every retrieved neighbour.
        own_caption: The questioned image's own caption, if the catalog has one; it
            outweighs all candidates together.

    Returns:
        ``(answer, cited files)``: a short Chinese sentence and the files whose captions
        support it (when nothing answers the question: the first captions it read).

    Raises:
        ValueError: For a ``retrieve`` question (retrieval itself answers those).
    """
    if route.kind == "retrieve":
        raise ValueError(
            "a retrieve question is answered by retrieval (the best file), not by a vote "
            "over captions"
        )
    voters = _voters(candidates, own_caption)
    if not voters:
        return "目录中没有找到带说明的相似商品，无法回答。", []

    if route.kind == "describe":
        text, files = _describe(voters)
        if text is None:
            return "目录中相似商品的说明不足以描述这张图片。", _consulted(voters)
        return text, files

    attribute = route.attribute
    label = ATTRIBUTE_LABELS.get(attribute, attribute or "")
    if attribute in ("color", "category", "gender", "usage"):
        value, files = _field_vote(voters, attribute)
    elif attribute == "material":
        value, files = _term_vote(voters, lambda v: find_terms(v.caption, MATERIAL_WORDS))
    elif attribute == "style":
        value, files = _term_vote(
            voters,
            lambda v: (
                [canonical_usage(t) for t in find_terms(v.caption, STYLE_WORDS)]
                + ([v.attributes.usage] if v.attributes.usage else [])
            ),
        )
    elif attribute == "shoes":
        value, files = _term_vote(
            voters,
            lambda v: (
                [v.attributes.category]
                if v.attributes.category and v.attributes.category.endswith(FOOTWEAR_SUFFIXES)
                else []
            ),
        )
    else:
        text, files = _describe(voters)
        lead = "目录中相似商品的说明没有直接回答这个问题。"
        if text is None:
            return lead, _consulted(voters)
        return f"{lead}根据说明，{text}", files

    if value is None:
        return f"目录中相似商品的说明没有提到{label}。", _consulted(voters)
    return _attribute_sentence(attribute, value), files
