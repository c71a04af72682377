"""The answer vocabulary: the attribute values a catalog's captions use, per field.

VQA as classification over frequent answers: each field's candidate answers are the canonical
values (:mod:`ingest.attributes`) that at least ``min_count`` captions of the catalog state. The
vocabulary also remembers how many captions mention each field at all, so that a question
about a field the catalog never mentions (material, when no caption names one) is answered
"the catalog does not say" rather than guessed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ingest.attributes import ALL_FIELDS, MATERIAL_WORDS, STYLE_WORDS, Lexicon
from ingest.attributes.words import PRODUCT_HEADS, base_surfaces, canonical_usage

#: The fields answer heads are trained for (what a photo shows, and the brand, which a
#: photo sometimes shows); material and style are answered from captions and zero-shot only.
HEAD_FIELDS: tuple[str, ...] = ("color", "category", "gender", "usage", "brand")

#: The fields the VQA stage gives candidates for.
VQA_FIELDS: tuple[str, ...] = ALL_FIELDS

_FORMAT = 1

#: A brand as titles write it: Latin letters and digits, a few words, nothing else.
_BRAND = re.compile(r"^[A-Za-z0-9][A-Za-z0-9&'.+-]*(?: +[A-Za-z0-9&'.+-]+){0,3}$")
#: A product word: a short run of Chinese characters (and Latin, as in T恤) ending in a
#: product character.
_PRODUCT = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9-]{1,7}$")


@lru_cache(maxsize=1)
def _known_values() -> dict[str, frozenset[str]]:
    """Canonical values per field of the general lexicon."""
    kinds: dict[str, set[str]] = {}
    for kind, value in base_surfaces().values():
        kinds.setdefault(kind, set()).add(value)
    style = set(STYLE_WORDS) | {canonical_usage(w) for w in STYLE_WORDS} | kinds.get("usage", set())
    return {
        "color": frozenset(kinds.get("color", ())),
        "gender": frozenset(kinds.get("gender", ())),
        "usage": frozenset(kinds.get("usage", ())),
        "category": frozenset(kinds.get("category", ())),
        "material": frozenset(MATERIAL_WORDS),
        "style": frozenset(style),
    }


def recognised(name: str, value: str | None, lexicon: Lexicon | None = None) -> bool:
    """Whether ``value`` is an attribute value of field ``name``, not leftover caption text.

    The parser reads unknown text before a product word as part of the product, and Latin
    runs as brands; an answer must only ever repeat values: colours, genders, usages,
    materials and styles of the general vocabulary, product words (known ones, or short
    words ending in a product character), and the brands and colours the catalog's lexicon
    knows (with no lexicon: short Latin names, and no other colours).

    Args:
        name: The field.
        value: A parsed value.
        lexicon: The catalog's lexicon.

    Returns:
        ``True`` when the value may be shown as an answer.
    """
    if not value:
        return False
    if name == "brand":
        if not _BRAND.match(value) or len(value) > 40:
            return False
        return lexicon is None or lexicon.brand(value) is not None
    known = _known_values().get(name)
    if known is None:
        return False
    if value in known:
        return True
    if name == "color":
        return lexicon is not None and value in lexicon.colours
    if name == "category" and _PRODUCT.match(value):
        listed = lexicon is not None and value in lexicon.categories
        return value[-1] in PRODUCT_HEADS or listed
    return False


def answer_attributes(
    attributes: Mapping[str, str | None], lexicon: Lexicon | None = None
) -> dict[str, str]:
    """The values a caption offers as answers: its :func:`recognised` fields, with its usage
    as its style when it names no style word (休闲风格 answers "what style is it?").

    Args:
        attributes: Parsed fields of a caption (:func:`ingest.attributes.caption_attributes`).
        lexicon: The lexicon it was parsed with.

    Returns:
        Field → value.
    """
    out = {k: v for k, v in attributes.items() if v and recognised(k, v, lexicon)}
    if "style" not in out and "usage" in out:
        out["style"] = out["usage"]
    return out


@dataclass(frozen=True)
class AnswerVocabulary:
    """Candidate answers per field, most frequent first.

    Attributes:
        values: Field → the values at least ``min_count`` captions state.
        counts: Field → how many captions state each of those values (same order).
        mentions: Field → how many captions state the field at all (any value).
        captions: How many captions were read.
    """

    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    counts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    mentions: dict[str, int] = field(default_factory=dict)
    captions: int = 0

    @classmethod
    def mine(
        cls,
        attributes: Iterable[Mapping[str, str | None]],
        min_count: int = 2,
        lexicon: Lexicon | None = None,
    ) -> AnswerVocabulary:
        """Counts the values of each field over a catalog's parsed captions.

        Args:
            attributes: One mapping per caption, field → canonical value (``None`` or absent:
                not stated), e.g. :func:`ingest.attributes.caption_attributes` of each caption.
            min_count: How many captions must state a value for it to be a candidate answer.
            lexicon: The lexicon the captions were parsed with; each caption counts with
                its :func:`answer_attributes` (values that are not :func:`recognised` are
                never candidates, nor count as mentions).

        Returns:
            The vocabulary; ties in frequency are ordered by value, so it is the same for the
            same captions in any order.
        """
        counters: dict[str, Counter[str]] = {f: Counter() for f in VQA_FIELDS}
        n = 0
        for parsed in attributes:
            n += 1
            attrs = answer_attributes(parsed, lexicon)
            for name in VQA_FIELDS:
                value = attrs.get(name)
                if value:
                    counters[name][value] += 1
        values, counts, mentions = {}, {}, {}
        for name, counter in counters.items():
            kept = sorted(
                ((v, c) for v, c in counter.items() if c >= min_count),
                key=lambda vc: (-vc[1], vc[0]),
            )
            values[name] = tuple(v for v, _ in kept)
            counts[name] = tuple(c for _, c in kept)
            mentions[name] = sum(counter.values())
        return cls(values=values, counts=counts, mentions=mentions, captions=n)

    def of(self, name: str) -> tuple[str, ...]:
        """The candidate answers of field ``name`` (empty when the catalog has none)."""
        return self.values.get(name, ())

    def mentioned(self, name: str) -> bool:
        """Whether any caption of the catalog states field ``name``."""
        return self.mentions.get(name, 0) > 0

    def labels(self, attributes: Iterable[Mapping[str, str | None]], name: str) -> np.ndarray:
        """Class indices of field ``name`` for parsed captions (-1: not stated, or rare).

        Args:
            attributes: One mapping per caption, as for :meth:`mine`.
            name: The field.

        Returns:
            ``(N,)`` int64 indices into :meth:`of`.
        """
        index = {v: i for i, v in enumerate(self.of(name))}
        return np.asarray([index.get(a.get(name) or "", -1) for a in attributes], dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (:meth:`from_dict` reads it back)."""
        return {
            "format": _FORMAT,
            "captions": self.captions,
            "fields": {
                name: {
                    "values": list(self.values.get(name, ())),
                    "counts": list(self.counts.get(name, ())),
                    "mentions": self.mentions.get(name, 0),
                }
                for name in sorted(set(self.values) | set(self.mentions))
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnswerVocabulary:
        """Reads what :meth:`to_dict` wrote.

        Raises:
            ValueError: When the format is unknown or a field is malformed (named).
        """
        if data.get("format") != _FORMAT:
            raise ValueError(f"answer vocabulary: unsupported format {data.get('format')!r}")
        values, counts, mentions = {}, {}, {}
        for name, entry in dict(data.get("fields", {})).items():
            vals, cnts = entry.get("values", []), entry.get("counts", [])
            if not all(isinstance(v, str) for v in vals) or len(vals) != len(cnts):
                raise ValueError(f"answer vocabulary: field {name!r} is malformed")
            values[name] = tuple(vals)
            counts[name] = tuple(int(c) for c in cnts)
            mentions[name] = int(entry.get("mentions", 0))
        return cls(values=values, counts=counts, mentions=mentions, captions=int(data["captions"]))
