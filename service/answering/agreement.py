"""Attribute agreement: what a product text says about the product, as search inputs.

A product text (a retrieve question's title, a search box) is parsed with the catalog's
lexicon (the one stored with the collection at ingest) into brand, gender, colour, usage,
category, material and style. Two search inputs come of it:

- the **agreement leg**: products whose stored attributes (parsed from their caption, or
  predicted for an uncaptioned photo) agree with the text's, ranked by how much agrees (a
  Qdrant formula over the agreeing products nearest to the text), fused with the other legs
  as one more ranking: a signal, never a filter;
- the **keyword text**: the attribute words and the leftover product words, without the
  marketing words the parser recognises (years, seasons, shop and hype words, the catalog's
  learned filler words), so that marketing words do not drive the keyword leg.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ingest.attributes import FIELDS, Lexicon, caption_attributes
from ingest.attributes.tokens import tokenize
from ingest.attributes.words import base_surfaces, longest_base_surface
from ingest.hits import Hit
from ingest.store import IMAGE, Agree, Leg

#: Token kinds that carry what the product is (the rest is marketing or punctuation).
_PRODUCT_KINDS = frozenset({"brand", "gender", "color", "usage", "category", "style", "rest"})

#: Weight of a field in the agreement score: the fields that identify a product (brand,
#: gender, colour, usage, category: :data:`~ingest.attributes.FIELDS`) count fully; material
#: and style describe it, and shop titles use style words (简约, 百搭) as praise.
WEIGHTS: Mapping[str, float] = {**dict.fromkeys(FIELDS, 1.0), "material": 0.5, "style": 0.25}


@dataclass(frozen=True)
class ProductText:
    """A product text read for search.

    Attributes:
        text: The text as given.
        attributes: Field → canonical value of the fields it states.
        keywords: The text the keyword leg searches: its product words, marketing removed.
    """

    text: str
    attributes: Mapping[str, str]
    keywords: str


def read_product_text(text: str, lexicon: Lexicon | None) -> ProductText:
    """Parses a product text into its attributes and its keyword text.

    Args:
        text: E.g. ``"2023秋冬新品Reid & Taylor男棕色系日常休闲衬衫简约"``.
        lexicon: The catalog's lexicon (``None``: the general vocabulary).

    Returns:
        The :class:`ProductText`; ``keywords`` falls back to ``text`` when nothing is left.
    """
    if lexicon is None:
        surfaces, longest = base_surfaces(), longest_base_surface()
    else:
        surfaces, longest = lexicon.surfaces
    tokens = tokenize(text.strip(), surfaces, longest)
    kept = [t.text.strip() for t in tokens if t.kind in _PRODUCT_KINDS and t.text.strip()]
    return ProductText(text, caption_attributes(text, lexicon), " ".join(kept) or text)


def agreement_leg(
    product: ProductText,
    vector: Sequence[float],
    limit: int,
    *,
    weights: Mapping[str, float] | None = None,
    slack: int = 1,
    pool: int = 200,
) -> Leg | None:
    """The leg that ranks products by the attributes they share with ``product``.

    Args:
        product: The parsed product text.
        vector: Its CLIP text vector (orders products that agree equally, by their photo).
        limit: Products the leg contributes to the fusion.
        weights: Weight per field (default :data:`WEIGHTS`).
        slack: Candidates may disagree on (or lack) this many of the text's identifying
            attributes (:data:`~ingest.attributes.FIELDS`).
        pool: Candidates gathered before scoring.

    Returns:
        The leg, or ``None`` when the text states no attribute.
    """
    weights = WEIGHTS if weights is None else weights
    identity = identifying(product.attributes)
    if not identity:
        return None
    values = tuple(
        (name, value, float(weights.get(name, 0.0)))
        for name, value in product.attributes.items()
        if weights.get(name, 0.0) > 0
    )
    ordered = sorted(values, key=lambda v: v[0] not in identity)  # identity first
    need = max(1, len(identity) - slack)
    agree = Agree(tuple(ordered), min_count=need, counted=len(identity), pool=pool)
    return Leg(vector, IMAGE, limit, agree=agree)


def identifying(attributes: Mapping[str, str]) -> dict[str, str]:
    """The identifying attributes of a text (:data:`~ingest.attributes.FIELDS`)."""
    return {f: v for f, v in attributes.items() if f in FIELDS and v}


def agreeing(hits: Sequence[Hit], attributes: Mapping[str, str], least: int = 2) -> list[Hit]:
    """The hits with a real caption that agree on every identifying attribute of a text.

    Args:
        hits: Ranked hits.
        attributes: The text's attributes.
        least: How many identifying attributes the text must state; fewer: none agree.

    Returns:
        Those hits, in order.
    """
    if len(identifying(attributes)) < least:
        return []
    return [h for h in hits if h.caption_source == "caption" and agrees_with(h, attributes)]


def agrees_with(hit: Hit, attributes: Mapping[str, str]) -> bool:
    """Whether a product's stored attributes state every identifying attribute of a text
    alike (brand, gender, colour, usage, category: :data:`~ingest.attributes.FIELDS`).

    Args:
        hit: A search hit (with its stored attributes).
        attributes: The text's attributes.

    Returns:
        ``True`` when the text states an identifying attribute and the hit agrees on all.
    """
    stored = hit.attributes or {}
    identity = identifying(attributes)
    return bool(identity) and all(stored.get(f) == v for f, v in identity.items())


def quoting(hits: Sequence[Hit], text: str, least_share: float = 0.5) -> list[Hit]:
    """The hits with a real caption that ``text`` quotes whole: a shop's title made of a
    catalog caption with its own marketing words around it (【包邮】<caption>ins风).

    Spaces and case are ignored. Only the longest quoted captions count, and only where they
    make up ``least_share`` of the text or more, so that a short caption (黑色T恤) inside a
    longer title does not pass for the product it names.

    Args:
        hits: Ranked hits.
        text: The product text of a search.
        least_share: The least share of the text's characters the caption must cover.

    Returns:
        Those hits, in order.
    """
    title = _squeezed(text)
    found = []
    for h in hits:
        caption = _squeezed(h.caption or "") if h.caption_source == "caption" else ""
        if caption and caption in title and len(caption) >= least_share * len(title):
            found.append((len(caption), h))
    longest = max((n for n, _ in found), default=0)
    return [h for n, h in found if n == longest]


def _squeezed(text: str) -> str:
    return "".join(text.split()).casefold()
