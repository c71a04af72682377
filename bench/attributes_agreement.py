"""Attribute agreement: does a shop title parse like the plain caption of the same photo?

    python bench/attributes_agreement.py [--plain CSV] [--titles CSV] [--no-lexicon]
                                         [--unseen-marketing] [--min-count N]

Both CSVs (``image,text``) caption the same photos, one plainly (``Peter England 男士紫色正装
衬衫``), one as shop titles (``2023秋冬新品Peter England男紫色系正装衬衫简约``). A lexicon is
learned from each CSV's own captions (never from the other), every caption is parsed with
its catalog's lexicon, and for each field the script reports the share of shared photos
whose two parses agree (``null`` = ``null`` counts as agreement), plus the share where the
field is set in both and agrees. Prints one JSON line.

``--unseen-marketing`` removes from the general marketing vocabulary every word that occurs
in the titles, so the figure shows what the parser does with marketing words it has never
seen (only the shape patterns and the learned lexicon are left to recognise them).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/attributes_agreement.py` from anywhere
    sys.path.insert(0, str(REPO))

from ingest.attributes import (  # noqa: E402
    ALL_FIELDS,
    FIELDS,
    Attributes,
    Lexicon,
    parse_caption,
)
from ingest.attributes import words as vocabulary  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def read_captions(path: Path) -> dict[str, str]:
    """Reads ``image,text`` rows into ``{image: text}``."""
    with path.open(encoding="utf-8") as fh:
        return {row["image"]: row["text"] for row in csv.DictReader(fh)}


def forget_marketing_words(texts: list[str]) -> int:
    """Drops every general marketing word that occurs in ``texts``; returns how many."""
    keep = tuple(w for w in vocabulary.MARKETING_WORDS if not any(w in t for t in texts))
    dropped = len(vocabulary.MARKETING_WORDS) - len(keep)
    vocabulary.MARKETING_WORDS = keep
    vocabulary.base_surfaces.cache_clear()
    vocabulary.longest_base_surface.cache_clear()
    return dropped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", type=Path, default=DATA / "catalog-dev" / "train_annotation.csv")
    parser.add_argument(
        "--titles", type=Path, default=DATA / "catalog-dev-taobao" / "train_annotation.csv"
    )
    parser.add_argument("--no-lexicon", action="store_true", help="parse without a lexicon")
    parser.add_argument("--unseen-marketing", action="store_true")
    parser.add_argument("--min-count", type=int, default=2)
    args = parser.parse_args(argv)

    plain, titles = read_captions(args.plain), read_captions(args.titles)
    dropped = forget_marketing_words(list(titles.values())) if args.unseen_marketing else 0
    started = time.perf_counter()
    lexicons: list[Lexicon | None] = [None, None]
    if not args.no_lexicon:
        lexicons = [
            Lexicon.learn(plain.values(), args.min_count),
            Lexicon.learn(titles.values(), args.min_count),
        ]
    shared = sorted(set(plain) & set(titles))
    pairs = [
        (parse_caption(plain[i], lexicons[0]), parse_caption(titles[i], lexicons[1]))
        for i in shared
    ]
    seconds = time.perf_counter() - started
    agree = {f: _share(pairs, lambda a, b, f=f: getattr(a, f) == getattr(b, f)) for f in ALL_FIELDS}
    set_and_agree = {
        f: _share(
            pairs, lambda a, b, f=f: getattr(a, f) is not None and getattr(a, f) == getattr(b, f)
        )
        for f in ALL_FIELDS
    }
    all_five = _share(pairs, lambda a, b: all(getattr(a, f) == getattr(b, f) for f in FIELDS))
    if args.no_lexicon:
        learned = "no lexicon"
    else:
        learned = (
            f"lexicon learned from each CSV alone (min_count {args.min_count}): "
            f"plain {_size(lexicons[0])}, titles {_size(lexicons[1])}"
        )
    if args.unseen_marketing:
        learned += f"; {dropped} general marketing words that occur in the titles forgotten"
    line = {
        "figure": "attribute agreement, plain caption vs shop title",
        "value": agree,
        "set_and_agree": set_and_agree,
        "all_five": all_five,
        "unit": "share of photos",
        "conditions": f"{len(pairs)} photos in both {args.plain} and {args.titles}; {learned}; "
        f"learn + parse {seconds:.1f} s",
    }
    print(json.dumps(line, ensure_ascii=False))


def _share(pairs: list[tuple[Attributes, Attributes]], test: Callable[..., bool]) -> float:
    return round(sum(bool(test(a, b)) for a, b in pairs) / max(len(pairs), 1), 3)


def _size(lexicon: Lexicon | None) -> str:
    if lexicon is None:
        return "none"
    return f"{len(lexicon.brands)} brands, {len(lexicon.categories)} categories, {len(lexicon.noise)} noise"


if __name__ == "__main__":
    main()
