"""Pairs for evaluating photo + words search, built from a catalog's captions.

A pair is photo A plus the colour word of B, where B's caption states A's brand, gender and
category in another colour: the composed query should find B.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ingest.attributes import Lexicon, caption_attributes

SAME = ("brand", "gender", "category")


def variant_pairs(
    rows: Iterable[tuple[str, str]], lexicon: Lexicon | None = None, limit: int | None = None
) -> list[tuple[str, str, str]]:
    """``(A, colour of B, B)`` per photo A that has such a B (the first B in file order).

    Args:
        rows: ``(file, caption)`` of the catalog.
        lexicon: The catalog's lexicon (``None``: the general vocabulary).
        limit: Most pairs (the first, in file order).
    """
    parsed: list[tuple[str, Mapping[str, str]]] = []
    for file, caption in sorted(rows):
        attrs = caption_attributes(caption, lexicon)
        if all(attrs.get(f) for f in (*SAME, "color")):
            parsed.append((file, attrs))
    by_key: dict[tuple, list[tuple[str, str]]] = {}
    for file, attrs in parsed:
        by_key.setdefault(tuple(attrs[f] for f in SAME), []).append((file, attrs["color"]))
    pairs = []
    for file, attrs in parsed:
        other = next(
            (b for b, colour in by_key[tuple(attrs[f] for f in SAME)] if colour != attrs["color"]),
            None,
        )
        if other is not None:
            colour = dict(by_key[tuple(attrs[f] for f in SAME)])[other]
            pairs.append((file, colour, other))
    return pairs[:limit]
