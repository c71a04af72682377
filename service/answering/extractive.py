"""Answers composed without a language model, from the VQA stage's candidates.

The extractive answering strategy: each field the question asks is answered with its best
candidate (:mod:`service.answering.vqa`: the photo's own caption, else the fusion of the answer
heads, CLIP zero-shot and the score-weighted vote of the retrieved neighbours; with no VQA
stage, the vote alone), phrased as a short Chinese sentence that cites the neighbours whose
captions state it. Only recognised attribute values are ever repeated
(:func:`ingest.vqa.vocabulary.recognised`), never other text of a caption.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.attributes import ATTRIBUTE_LABELS, FOOTWEAR_SUFFIXES, Lexicon
from ingest.hits import Hit
from ingest.vqa.sources import vote_weights
from service.answering.vqa import NONE, UNMENTIONED, Vqa, VqaStage
from service.routing import Route

__all__ = ["extractive_answer"]

_USAGE_PHRASES = {
    "休闲": "日常休闲",
    "正装": "正装（正式）",
    "民族风": "民族风（传统节庆）",
    "智能休闲": "智能休闲（商务休闲）",
}

# How many files an answer that found nothing cites (the captions it read).
_CONSULTED = 3


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


def _describe(vqa: Vqa) -> tuple[str | None, list[str]]:
    brand, gender, color, usage, category = (
        vqa.top(n) for n in ("brand", "gender", "color", "usage", "category")
    )
    if not any((category, gender, color, usage, brand)):
        return None, []
    style = ""
    if usage:
        style = f"{usage}的" if usage.endswith("风") else f"{usage}风格的"
    brand = " ".join(brand.split()) if brand else ""  # "Allen  Solly" reads "Allen Solly"
    text = f"这是一款{brand}{gender or ''}{color or ''}{style}{category or '商品'}。"
    return text, vqa.files("category") or vqa.files("color") or vqa.files("gender")


def _shoes(ranked: Sequence[Hit], vqa_stage: VqaStage) -> tuple[str | None, list[str]]:
    """The footwear the neighbours' captions name, by vote."""
    totals: dict[str, float] = {}
    files: dict[str, list[str]] = {}
    for hit, weight in zip(ranked, vote_weights([h.score for h in ranked]), strict=True):
        category = vqa_stage.attributes(hit).get("category")
        if category and category.endswith(FOOTWEAR_SUFFIXES):
            totals[category] = totals.get(category, 0.0) + weight
            files.setdefault(category, []).append(hit.file)
    if not totals:
        return None, []
    best = max(totals, key=lambda v: totals[v])  # dict order = rank order breaks ties
    return best, files[best]


def extractive_answer(
    route: Route,
    candidates: Sequence[Hit],
    own_caption: str | None = None,
    *,
    vqa: Vqa | None = None,
    lexicon: Lexicon | None = None,
) -> tuple[str, list[str]]:
    """Answers a routed question from the VQA candidates, without a language model.

    Args:
        route: The routed question.
        candidates: Retrieved products (any order; ranked here by score).
        own_caption: The questioned image's own real caption, if the catalog has one; the
            fields it states are answered by it.
        vqa: The VQA stage's candidates for this question; ``None``: the neighbours' vote
            alone (and the own caption).
        lexicon: The catalog's lexicon (captions are parsed with it when ``vqa`` is ``None``).

    Returns:
        ``(answer, cited files)``: a short Chinese sentence and the neighbours whose captions
        support it (when nothing answers the question: the first captions it read; when only
        the photo's own features answer it: none).

    Raises:
        ValueError: For a ``retrieve`` question (retrieval itself answers those).
    """
    if route.kind == "retrieve":
        raise ValueError(
            "a retrieve question is answered by retrieval (the best file), not by a vote "
            "over captions"
        )
    ranked = sorted((c for c in candidates if c.caption), key=lambda c: -c.score)
    stage = VqaStage(lexicon=lexicon)
    if vqa is None:
        vqa = stage.answer(route, None, ranked, own_caption)
    consulted = [h.file for h in ranked][:_CONSULTED]
    speaks = any(a.candidates for a in vqa.fields.values())
    if not ranked and not speaks and not (own_caption or "").strip():
        return "目录中没有找到带说明的相似商品，无法回答。", []

    if route.kind == "describe":
        text, files = _describe(vqa)
        if text is None:
            return "目录中相似商品的说明不足以描述这张图片。", consulted
        return text, files

    attribute = route.attribute
    label = ATTRIBUTE_LABELS.get(attribute, attribute or "")
    if attribute == "shoes":
        value, files = _shoes(ranked, stage)
        if value is None:
            return f"目录中相似商品的说明没有提到{label}。", consulted
        return _attribute_sentence(attribute, value), files
    if attribute is None or attribute not in vqa.fields:
        text, files = _describe(vqa)
        lead = "目录中相似商品的说明没有直接回答这个问题。"
        if text is None:
            return lead, consulted
        return f"{lead}根据说明，{text}", files

    answer = vqa.fields[attribute]
    if answer.origin == UNMENTIONED:
        return f"目录中没有关于{label}的信息。", consulted
    if answer.origin == NONE or answer.top is None:
        return f"目录中相似商品的说明没有提到{label}。", consulted
    return _attribute_sentence(attribute, answer.top), vqa.files(attribute)
