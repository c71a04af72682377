"""Product attributes parsed from a caption, a shop title or a question's product text.

``Peter England 男士紫色正装衬衫`` and ``2023秋冬新品Peter England男紫色系正装衬衫简约``
parse to the same brand, gender, colour, usage and category: variant spellings map to one
canonical value (男/男款/男士 → 男士, 紫色系 → 紫色, 日常休闲 → 休闲), marketing words are
recognised by their shape and a general lexicon, and with a catalog's
:class:`~ingest.attributes.lexicon.Lexicon` the parser also knows its brands and product
words and ignores what the lexicon cannot explain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from ingest.attributes.lexicon import Lexicon
from ingest.attributes.tokens import Phrase, Token, has_letter, phrases, tokenize
from ingest.attributes.words import (
    ALL_FIELDS,
    FIELDS,
    MATERIAL_WORDS,
    PRODUCT_HEADS,
    base_surfaces,
    longest_base_surface,
    usage_of_category,
)


@dataclass(frozen=True)
class Attributes:
    """The fields of one product text; a field is ``None`` when the text lacks it.

    Attributes:
        brand: Latin-script brand, e.g. ``"Levis"``.
        gender: Canonical gender: 男士, 女士, 男女通用, 男童, 女童 or 儿童.
        color: Canonical colour, e.g. ``"藏青色"`` (for 藏青, 藏青色, 藏青系), ``"海军蓝"``.
        usage: Canonical usage: 休闲, 正装, 运动, 民族风, ...
        category: Product type, e.g. ``"三角内裤"``.
        material: Material word, e.g. ``"纯棉"``.
        style: Style word, e.g. ``"复古"``.
    """

    brand: str | None = None
    gender: str | None = None
    color: str | None = None
    usage: str | None = None
    category: str | None = None
    material: str | None = None
    style: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """Returns every field, ``{brand, gender, color, usage, category, material, style}``."""
        return {name: getattr(self, name) for name in ALL_FIELDS}


def parse_caption(caption: str, lexicon: Lexicon | None = None) -> Attributes:
    """Parses a Chinese product text into its attributes.

    Args:
        caption: A caption or title, e.g. ``"Levis 男士黑色休闲三角内裤"`` or
            ``"2024春夏新款ZARA女士藏青色系通勤衬衫百搭"``.
        lexicon: The catalog's learned lexicon. With it, brands take the catalog's
            spelling and the category is a word the lexicon explains; without it, the
            uncovered text before a product word stays part of the category (束腰长上衣).

    Returns:
        The parsed :class:`Attributes`; fields the text does not mention are ``None``.
    """
    if lexicon is None:
        surfaces, longest = base_surfaces(), longest_base_surface()
    else:
        surfaces, longest = lexicon.surfaces
    tokens = tokenize(caption.strip(), surfaces, longest)
    category = _category(phrases(tokens), lexicon)
    usage = _usage(tokens)
    if usage is None and category:
        usage = usage_of_category(category)
    return Attributes(
        brand=_brand(tokens, lexicon),
        gender=_first(tokens, "gender"),
        color=_first(tokens, "color"),
        usage=usage,
        category=category,
        material=_material(tokens),
        style=_first(tokens, "style"),
    )


def _first(tokens: list[Token], kind: str) -> str | None:
    return next((t.value for t in tokens if t.kind == kind and t.value), None)


def _usage(tokens: list[Token]) -> str | None:
    """The usage, read head-final (商务正装 → 正装, 日常休闲 → 休闲).

    A usage word right before a product word is read as part of the product (运动凉鞋)
    when the text states the usage elsewhere as well.
    """
    runs: list[tuple[str, bool]] = []  # (value, directly before a product word)
    value = None
    for token in [*tokens, Token("sep", "", "")]:
        if token.kind == "usage":
            value = token.value
        elif value is not None:
            runs.append((value, token.kind == "category"))
            value = None
    free = [v for v, before_product in runs if not before_product]
    return (free or [v for v, _ in runs] or [None])[0]


def _brand(tokens: list[Token], lexicon: Lexicon | None) -> str | None:
    runs = [t.value for t in tokens if t.kind == "brand" and t.value]
    if lexicon is not None:
        known = next((b for b in map(lexicon.brand, runs) if b is not None), None)
        if known is not None:
            return known
    return next((r for r in runs if has_letter(r)), runs[0] if runs else None)


def _category(found: list[Phrase], lexicon: Lexicon | None) -> str | None:
    """The longest product phrase, the last of equals (the head of a Chinese title)."""
    headed = [p for p in found if p.head is not None]
    if lexicon is not None:
        # Only what the lexicon explains: the product word, not unexplained text before it.
        pool = [p.head.value for p in headed if p.head is not None]
        pool = pool or [p.text for p in found if p.text[-1] in PRODUCT_HEADS]
    else:
        pool = [p.text for p in headed] or [p.text for p in found]
    return max(reversed(pool), key=len) if pool else None


def _material(tokens: list[Token]) -> str | None:
    text = " ".join(t.text for t in tokens if t.kind not in ("brand", "color"))
    return next(iter(find_terms(text, MATERIAL_WORDS)), None)


def find_terms(text: str, vocabulary: Iterable[str]) -> list[str]:
    """Finds vocabulary terms in ``text``, longest match first, without overlaps.

    Args:
        text: Free text, e.g. a caption.
        vocabulary: Candidate terms, e.g. :data:`MATERIAL_WORDS`.

    Returns:
        The terms found, in order of appearance.
    """
    words = tuple(w for w in vocabulary if w)
    return _terms_pattern(words).findall(text) if words else []


@lru_cache(maxsize=64)
def _terms_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    # Alternatives longest first: at each position the regex takes the longest term.
    return re.compile("|".join(map(re.escape, sorted(set(words), key=len, reverse=True))))


def field_coverage(captions: Iterable[str], lexicon: Lexicon | None = None) -> Mapping[str, float]:
    """Returns the share of captions where each field parses (a quick data-quality check).

    Args:
        captions: Caption strings.
        lexicon: The catalog's lexicon, if any.

    Returns:
        ``{field: share in [0, 1]}`` for each of :data:`FIELDS`.
    """
    parsed = [parse_caption(c, lexicon) for c in captions]
    if not parsed:
        return dict.fromkeys(FIELDS, 0.0)
    return {f: sum(getattr(p, f) is not None for p in parsed) / len(parsed) for f in FIELDS}
