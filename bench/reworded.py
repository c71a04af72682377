"""A question file in other wordings, to check that answering does not depend on one phrasing.

    python bench/reworded.py QUERY_JSON TRUTH_JSON OUT_JSON [--seed N] [--titles]

Writes ``OUT_JSON``: the questions of ``QUERY_JSON`` in the same order, about the same
photos, each asked in a phrasing drawn (seeded) from :data:`WORDINGS` for its kind in the
truth file (``answers.json``'s ``type``); a retrieve question keeps its product text and
takes another sentence around it. With ``--titles``, a retrieve question's title also gets
other marketing words (:data:`OPENERS`, :data:`CLOSERS`) at its start and end, in place of a
bracketed or dated opener (【热卖】, 2023秋冬新品), as another shop would write it. Answer and
score it like the original:

    tuwen answer OUT_JSON -o out.json && tuwen eval out.json --truth TRUTH_JSON

The wordings are written here, not taken from any catalog; a catalog whose figures drop on
its reworded questions has answers that lean on its question phrasing.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

WORDINGS: dict[str, tuple[str, ...]] = {
    "category": (
        "图片里的是什么东西？",
        "这件是什么品类的商品？",
        "请问图中的商品属于哪一类？",
        "这是啥？",
        "这个商品是什么类型？",
        "它是哪种商品？",
        "图上这件属于什么品类",
    ),
    "color": (
        "它是什么颜色？",
        "这款是啥颜色的",
        "请问图中商品的颜色是？",
        "这件衣服什么色？",
        "商品的主色调是什么？",
        "图里的东西是哪种颜色",
    ),
    "gender": (
        "这款适合男生还是女生？",
        "这是男士的还是女士的？",
        "适合什么性别的人？",
        "请问这款是男式还是女式",
        "这件商品是给谁穿戴的，男性还是女性？",
    ),
    "usage": (
        "这款在什么场景下使用？",
        "它适合什么场景穿着？",
        "请问这件商品的适用场合是？",
        "什么场合用它比较合适",
        "这件适合运动、上班还是日常穿？",
    ),
    "describe": (
        "描述一下这张图片里的商品。",
        "请介绍一下图中的商品。",
        "这张图片里有什么？请详细说明。",
        "说说这件商品。",
        "请给这张图片写一段商品描述",
    ),
    "retrieve": (
        "帮我找一张{t}的图片",
        "哪张图片最符合“{t}”？",
        "{t}，请给出对应的商品图片。",
        "我想看看{t}",
        "请检索：{t}",
        "找出和{t}最匹配的照片",
    ),
}
"""Phrasings per question type of the truth file; ``{t}`` is a retrieve question's title."""

OPENERS = ("2025春夏爆款", "【限时特惠】", "品牌直营", "官方旗舰店", "抖音同款", "【包邮】", "")
CLOSERS = ("ins风", "轻奢", "气质款", "宽松", "七天无理由", "顺丰包邮", "")
"""Marketing words that open and close a title with ``--titles``."""

_ORIGINAL_RETRIEVE = re.compile(r"^请匹配到与\s*(?P<t>.+?)\s*最相关的图片[。.]?$")
_BRACKETED_OPENER = re.compile(r"^(?:【[^】]{1,6}】|\d{4}\S{0,4}新品)")


def title_of(question: str) -> str:
    """The product title of a retrieve question in the competition's wording.

    Raises:
        ValueError: When the question is not worded ``请匹配到与 X 最相关的图片。``.
    """
    m = _ORIGINAL_RETRIEVE.match(question.strip())
    if m is None:
        raise ValueError(f"not a retrieve question in the competition's wording: {question!r}")
    return m.group("t")


def restyle(title: str, rng: random.Random) -> str:
    """``title`` with a bracketed or dated opener (【热卖】, 2023秋冬新品) dropped, and other
    marketing words put at its start and end."""
    return rng.choice(OPENERS) + _BRACKETED_OPENER.sub("", title, count=1) + rng.choice(CLOSERS)


def reword(
    queries: list[dict], truth: list[dict], seed: int = 0, titles: bool = False
) -> list[dict]:
    """The questions in other wordings (see the module docstring).

    Raises:
        ValueError: When the files differ in length or a truth entry has an unknown type.
    """
    if len(queries) != len(truth):
        raise ValueError(f"{len(queries)} questions but {len(truth)} truth entries")
    rng = random.Random(seed)
    out = []
    for i, (q, t) in enumerate(zip(queries, truth, strict=True)):
        kind = t.get("type")
        if kind not in WORDINGS:
            raise ValueError(f"truth entry {i}: unknown type {kind!r}")
        wording = rng.choice(WORDINGS[kind])
        if kind == "retrieve":
            try:
                title = title_of(q.get("question", ""))
            except ValueError as e:
                raise ValueError(f"question {i}: {e}") from None
            wording = wording.format(t=restyle(title, rng) if titles else title)
        out.append({**q, "question": wording})
    return out


def _read_list(path: Path) -> list[dict]:
    """A JSON file holding a list of objects.

    Raises:
        ValueError: It cannot be read or holds something else; the message names it.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: {e}") from None
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise ValueError(f"{path}: expected a JSON list of objects")
    return data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("queries", type=Path)
    p.add_argument("truth", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--titles", action="store_true", help="also swap titles' marketing words")
    args = p.parse_args(argv)
    try:
        queries, truth = (_read_list(f) for f in (args.queries, args.truth))
        out = reword(queries, truth, args.seed, args.titles)
    except ValueError as e:
        print(f"reworded: {e}", file=sys.stderr)
        return 2
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(out)} questions → {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
