"""Tokens and phrases of a product title, by longest match over a lexicon.

A title such as ``2023秋冬新品Reid & Taylor男棕色系日常休闲衬衫简约`` becomes tokens of
kind ``noise`` (2023秋冬新品), ``brand`` (Reid & Taylor), ``gender`` (男), ``color``
(棕色系), ``usage`` (日常, 休闲), ``category`` (衬衫) and ``style`` (简约); Chinese text no
lexicon word covers accumulates into ``rest`` tokens. :func:`phrases` then groups the rest
and category tokens into head-final phrases, where the category word is the head.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ingest.attributes.words import (
    CATEGORY_WORDS,
    FILLERS,
    GRAMMAR_CHARS,
    MARKETING_PATTERN,
    is_latin_noise,
)

_LATIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9&.'’+\-_ ]*")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LETTER = re.compile(r"[A-Za-z]")
_GLUED_YEAR = re.compile(r"(?<![0-9])(?:19|20)\d{2}(?=年|[春夏秋冬]|新|款)")
_LATIN_CATEGORIES = tuple(w for w in CATEGORY_WORDS if w[0].isascii())

Surfaces = Mapping[str, tuple[str, str]]


@dataclass(frozen=True)
class Token:
    """One piece of a title.

    Attributes:
        kind: ``brand``, ``gender``, ``color``, ``usage``, ``category``, ``style``,
            ``noise``, ``rest`` (uncovered Chinese text) or ``sep``.
        text: The text as written.
        value: The canonical value (for ``brand``: the Latin run, stripped).
    """

    kind: str
    text: str
    value: str


@dataclass(frozen=True)
class Phrase:
    """Chinese text between attribute words, ending at a category word when it has one.

    Attributes:
        text: Canonical text of the phrase, fillers (款, 系, 风格) stripped.
        head: The category token that ends it, or ``None`` for a phrase without one.
        modifier: The uncovered text before ``head`` (短款 in 短款库尔塔), fillers stripped.
    """

    text: str
    head: Token | None
    modifier: str


def is_noise_run(run: str) -> bool:
    """Whether every word of a Latin run is a size or hype word (``ins``, ``XL``).

    Args:
        run: A run of Latin words, e.g. ``"ins"``; ``"New Balance"`` is not noise.

    Returns:
        ``True`` when the run holds no other word.
    """
    words = run.split()
    return bool(words) and all(is_latin_noise(w) for w in words)


def tokenize(text: str, surfaces: Surfaces, longest: int) -> list[Token]:
    """Splits a title into tokens, longest lexicon match first.

    Args:
        text: The title or caption.
        surfaces: ``{surface: (kind, value)}``, e.g. ``words.base_surfaces()``.
        longest: Length of the longest surface.

    Returns:
        The tokens, in order; their texts concatenate to ``text``.
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        shaped = MARKETING_PATTERN.match(text, i)
        if shaped is not None and shaped.end() > i:
            tokens.append(Token("noise", shaped.group(0), shaped.group(0)))
            i = shaped.end()
            continue
        hit = None
        for length in range(min(longest, n - i), 0, -1):
            found = surfaces.get(text[i : i + length])
            if found is not None:
                hit = (length, found)
                break
        if hit is not None:
            length, (kind, value) = hit
            tokens.append(Token(kind, text[i : i + length], value))
            i += length
            continue
        char = text[i]
        if _CJK.match(char):
            if tokens and tokens[-1].kind == "rest":
                prev = tokens.pop()
                tokens.append(Token("rest", prev.text + char, prev.text + char))
            else:
                tokens.append(Token("rest", char, char))
            i += 1
            continue
        latin = _LATIN.match(text, i)
        if latin is not None:
            run = latin.group(0)
            # A Latin run ends where a lexicon word such as T恤 or a year begins
            # ("NikeT恤", "Levis2023秋冬新款").
            for cut in range(1, len(run)):
                if _latin_category_at(text, i + cut) or _GLUED_YEAR.match(text, i + cut):
                    run = run[:cut]
                    break
            kind = "noise" if is_noise_run(run) else "brand"
            tokens.append(Token(kind, run, run.strip()))
            i += len(run)
            continue
        tokens.append(Token("sep", char, char))
        i += 1
    return _merge_colour_modifiers(tokens)


def _latin_category_at(text: str, start: int) -> bool:
    """Whether a product word written with Latin letters (T恤, POLO衫) starts at ``start``."""
    return any(text.startswith(word, start) for word in _LATIN_CATEGORIES)


def _merge_colour_modifiers(tokens: list[Token]) -> list[Token]:
    """Joins one uncovered character to the colour word after it (姜 + 黄色 → 姜黄色), unless
    it is a filler or a grammatical character (是 + 红色 stays 红色)."""
    merged: list[Token] = []
    for token in tokens:
        if (
            token.kind == "color"
            and merged
            and merged[-1].kind == "rest"
            and len(merged[-1].text) == 1
            and merged[-1].text not in FILLERS
            and merged[-1].text not in GRAMMAR_CHARS
        ):
            prev = merged.pop()
            token = Token("color", prev.text + token.text, prev.text + token.value)
        merged.append(token)
    return merged


def strip_fillers(text: str) -> str:
    """Strips filler words (款, 系, 风格) from both ends of a phrase.

    Args:
        text: Chinese text.

    Returns:
        The text without them; ``""`` when nothing else is left.
    """
    changed = True
    while changed and text:
        changed = False
        for filler in FILLERS:
            if text.startswith(filler) and len(text) > len(filler):
                text, changed = text[len(filler) :], True
            if text.endswith(filler) and len(text) > len(filler):
                text, changed = text[: -len(filler)], True
    return "" if text in FILLERS else text


def phrases(tokens: Iterable[Token]) -> list[Phrase]:
    """Groups rest and category tokens into phrases; a category word ends its phrase.

    Chinese noun phrases are head-final, so uncovered text before a category word
    modifies it (短款 + 库尔塔), while text after it starts a new phrase (衬衫 | 显瘦).

    Args:
        tokens: Tokens from :func:`tokenize`.

    Returns:
        The non-empty phrases, in order.
    """
    found: list[Phrase] = []
    pending: list[Token] = []
    after_category = False

    def close(head: Token | None) -> None:
        modifier = strip_fillers("".join(t.value for t in pending))
        text = strip_fillers(modifier + head.value) if head is not None else modifier
        if text:
            found.append(Phrase(text, head, modifier))
        pending.clear()

    for token in tokens:
        if token.kind == "rest":
            pending.append(token)
        elif token.kind == "category":
            last = found[-1] if after_category and found else None
            if last is not None and last.head is not None:
                # Adjacent product words form one compound: 库尔塔 + 套装 → 库尔塔套装.
                text, value = last.head.text + token.text, last.head.value + token.value
                found[-1] = Phrase(
                    last.text + token.value, Token("category", text, value), last.modifier
                )
            else:
                close(token)
        elif pending:
            close(None)
        after_category = token.kind == "category"
    if pending:
        close(None)
    return found


def has_letter(text: str) -> bool:
    """Whether ``text`` holds a Latin letter (a brand rather than a model number)."""
    return bool(_LETTER.search(text))
