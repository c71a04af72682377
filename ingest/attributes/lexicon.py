"""What a catalog teaches the parser: its brands, its product words and its filler words.

:meth:`Lexicon.learn` reads the captions of one catalog (no other input):

- **brands** are Latin or mixed runs (``Reid & Taylor``, ``C Vox``, ``4711``) that recur
  across captions, kept in their most common spelling;
- **colours** are recurring uncovered words that end like a colour (水鸭色, 雾霾蓝,
  蘑菇棕; :func:`~ingest.attributes.words.looks_like_colour`), which the general colour
  list does not hold;
- **categories** are recurring Chinese words that the general lexicon leaves uncovered
  and that name a product: they end in a product character (衣, 裤, 包, ...), or most
  captions they occur in name no other product (a title names one product: 配饰礼盒), or
  they are a modifier that only ever precedes one product word (束腰长 + 上衣);
- **noise** is every other recurring uncovered word: shop and hype words this catalog
  uses (whatever they are), and modifiers that precede many product words (显瘦 + 衬衫,
  显瘦 + 长裤). Uncovered text that glues recurring words together is split first
  (配饰礼盒高级感 → 配饰礼盒 + 高级感).

Words that occur in fewer than ``min_count`` captions are left unexplained: with a
lexicon, the parser trusts only what it explains.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ingest.attributes.tokens import Phrase, Surfaces, Token, has_letter, phrases, tokenize
from ingest.attributes.words import (
    PRODUCT_HEADS,
    base_surfaces,
    longest_base_surface,
    looks_like_colour,
)

_FORMAT = 1
#: Letters a learned brand needs before it is recognised with a word glued to it.
_MIN_GLUED_BRAND = 4
#: Longest Latin word recognised as glued to a brand (ins, new, vip, plus).
_MAX_GLUED_WORD = 5


@dataclass(frozen=True)
class Lexicon:
    """Brands, product words and filler words learned from one catalog's captions.

    Attributes:
        brands: Brand spellings, e.g. ``("Peter England", "Reid & Taylor")``.
        categories: Product words beyond the general lexicon, e.g. ``("配饰礼盒",)``.
        noise: Recurring words that are neither, e.g. ``("现货速发",)``.
        colours: Colour words beyond the general lexicon, e.g. ``("水鸭色",)``.
    """

    brands: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    noise: tuple[str, ...] = ()
    colours: tuple[str, ...] = ()

    @classmethod
    def learn(cls, captions: Iterable[str], min_count: int = 2) -> Lexicon:
        """Learns a lexicon from one catalog's captions.

        Args:
            captions: The catalog's captions or titles.
            min_count: How many captions a word must occur in to be learned.

        Returns:
            The learned lexicon.
        """
        base, longest = base_surfaces(), longest_base_surface()
        tokenized = [tokenize(c.strip(), base, longest) for c in captions if c and c.strip()]
        brands = _learn_brands(tokenized, min_count)
        categories, noise, colours = _learn_words(tokenized, min_count)
        return cls(brands=brands, categories=categories, noise=noise, colours=colours)

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready form (:meth:`from_dict` reads it back); ``colours`` only
        when there are some, so a lexicon without them reads as before."""
        out: dict[str, Any] = {
            "format": _FORMAT,
            "brands": list(self.brands),
            "categories": list(self.categories),
            "noise": list(self.noise),
        }
        if self.colours:
            out["colours"] = list(self.colours)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lexicon:
        """Reads a lexicon written by :meth:`to_dict`.

        Args:
            data: The mapping, e.g. parsed from JSON.

        Returns:
            The lexicon.

        Raises:
            ValueError: When ``format`` is unknown or a field is not a list of strings.
        """
        if data.get("format") != _FORMAT:
            raise ValueError(f"lexicon: unsupported format {data.get('format')!r} (want {_FORMAT})")
        fields: dict[str, tuple[str, ...]] = {}
        for name in ("brands", "categories", "noise", "colours"):
            value = data.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"lexicon: field {name!r} must be a list of strings")
            fields[name] = tuple(value)
        return cls(**fields)

    @cached_property
    def surfaces(self) -> tuple[Surfaces, int]:
        """The general lexicon plus the learned words, and the longest surface's length."""
        merged = dict(base_surfaces())
        for word in self.colours:
            merged.setdefault(word, ("color", word))
        for word in self.categories:
            merged.setdefault(word, ("category", word))
        for word in self.noise:
            merged.setdefault(word, ("noise", word))
        return merged, max(len(w) for w in merged)

    @cached_property
    def _brand_keys(self) -> dict[str, str]:
        return {b.casefold(): b for b in self.brands}

    def brand(self, run: str) -> str | None:
        """The learned brand a Latin run names, in the catalog's spelling.

        Args:
            run: A Latin run of a title, e.g. ``"adidas originals"`` or ``"NEW Nike"``.

        Returns:
            The brand when the run is one, or holds one as whole words, or is one with a
            short Latin word glued on (``"Catwalkins"``: 潮牌Catwalkins风); else ``None``.
        """
        keys = self._brand_keys
        folded = run.casefold()
        if folded in keys:
            return keys[folded]
        glued = self._glued_brand(folded)
        if glued is not None:
            return glued
        words = folded.split()
        for size in range(len(words) - 1, 0, -1):
            for start in range(len(words) - size + 1):
                found = keys.get(" ".join(words[start : start + size]))
                if found is not None:
                    return found
        return None

    def _glued_brand(self, folded: str) -> str | None:
        """The longest brand of :data:`_MIN_GLUED_BRAND` letters or more that the run
        starts or ends with, the rest being one short Latin word (:data:`_MAX_GLUED_WORD`
        letters at most), as when a title's marketing word (ins, new) runs into the brand."""
        heads, tails = self._glued_keys
        n = _MIN_GLUED_BRAND
        rests = [(k, folded[len(k) :]) for k in heads.get(folded[:n], ()) if folded.startswith(k)]
        rests += [(k, folded[: -len(k)]) for k in tails.get(folded[-n:], ()) if folded.endswith(k)]
        glued = [
            k
            for k, rest in rests
            if 0 < len(rest) <= _MAX_GLUED_WORD and rest.isascii() and rest.isalpha()
        ]
        return self._brand_keys[max(glued, key=len)] if glued else None

    @cached_property
    def _glued_keys(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """The brand keys long enough to be found glued, by their first and last letters."""
        heads: dict[str, list[str]] = defaultdict(list)
        tails: dict[str, list[str]] = defaultdict(list)
        for key in self._brand_keys:
            if len(key) >= _MIN_GLUED_BRAND:
                heads[key[:_MIN_GLUED_BRAND]].append(key)
                tails[key[-_MIN_GLUED_BRAND:]].append(key)
        return heads, tails


def _learn_brands(tokenized: list[list[Token]], min_count: int) -> tuple[str, ...]:
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for tokens in tokenized:
        for value in {t.value for t in tokens if t.kind == "brand" and t.value}:
            spellings[value.casefold()][value] += 1
    brands = []
    for forms in spellings.values():
        if sum(forms.values()) >= min_count:
            brands.append(forms.most_common(1)[0][0])
    # Names with letters first: a bare number is a brand only where nothing else is.
    return tuple(sorted(brands, key=lambda b: (not has_letter(b), b)))


def _learn_words(
    tokenized: list[list[Token]], min_count: int
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Returns the learned ``(categories, noise, colours)``."""
    found = [phrases(tokens) for tokens in tokenized]
    colours = _learn_colours(found, min_count)
    if colours:  # read them as colours, then learn the other words
        tokenized = [_recoloured(tokens, colours) for tokens in tokenized]
        found = [phrases(tokens) for tokens in tokenized]
    # Uncovered words outside product phrases, split where they glue recurring words
    # together (配饰礼盒 + 高级感).
    glued = [{p.text for p in caption if p.head is None} for caption in found]
    counts = Counter(word for words in glued for word in words)
    known = sorted((w for w, n in counts.items() if n >= min_count), key=len, reverse=True)
    loose = [{piece for w in words for piece in _segment(w, known)} for words in glued]
    free = Counter(word for words in loose for word in words)
    pairs: Counter[tuple[str, str]] = Counter()  # (modifier, product word)
    for caption in found:
        pairs.update({(p.modifier, p.head.value) for p in caption if p.head and p.modifier})
    heads: dict[str, set[str]] = defaultdict(set)
    for modifier, head in pairs:
        heads[modifier].add(head)

    # A title names one product: a word that mostly shares its titles with a product word
    # praises or places the product; one that mostly stands without one names it.
    beside_product: Counter[str] = Counter()
    for caption, words in zip(found, loose, strict=True):
        headed = any(p.head is not None for p in caption)
        for word in words:
            if headed or any(_names_product(w) for w in words if w != word):
                beside_product[word] += 1
    categories: set[str] = set()
    noise: set[str] = set()
    for word, count in free.items():
        if count < min_count or len(word) < 2:
            continue
        if _names_product(word) or 2 * beside_product[word] < count:
            categories.add(word)
        else:
            noise.add(word)
    for (modifier, head), count in pairs.items():
        if len(modifier) < 2:
            continue
        if len(heads[modifier]) > 1:
            noise.add(modifier)  # a general modifier: 显瘦 before 衬衫 and before 长裤
        elif count >= min_count and modifier not in noise:
            categories.add(modifier + head)
    return tuple(sorted(categories)), tuple(sorted(noise - categories)), colours


def _learn_colours(found: list[list[Phrase]], min_count: int) -> tuple[str, ...]:
    """Uncovered words that end like a colour and recur: alone between attribute words
    (Nike 男士 水鸭色 运动鞋) or as the whole modifier of a product word (水鸭色运动鞋)."""
    counts: Counter[str] = Counter()
    for caption in found:
        counts.update({p.modifier if p.head else p.text for p in caption} - {""})
    return tuple(sorted(w for w, n in counts.items() if n >= min_count and looks_like_colour(w)))


def _recoloured(tokens: list[Token], colours: tuple[str, ...]) -> list[Token]:
    """The tokens with each uncovered run that is a learned colour made a colour token."""
    learned = set(colours)
    return [
        Token("color", t.text, t.text) if t.kind == "rest" and t.text in learned else t
        for t in tokens
    ]


def _names_product(word: str) -> bool:
    return word[-1] in PRODUCT_HEADS


def _segment(word: str, known: list[str]) -> list[str]:
    """Splits ``word`` into recurring words at its ends (配饰礼盒高级感 → 配饰礼盒, 高级感)."""
    for piece in known:
        if len(piece) < 2 or len(word) - len(piece) < 2:
            continue
        if word.startswith(piece):
            return [piece, *_segment(word[len(piece) :], known)]
        if word.endswith(piece):
            return [*_segment(word[: -len(piece)], known), piece]
    return [word]
