"""Chinese keywords: jieba tokens of a caption or query → a sparse vector for Qdrant.

Values are term counts; Qdrant's IDF modifier on the ``keywords`` vector supplies the
inverse document frequency, so documents and queries share one function.
"""

from __future__ import annotations

import logging
import re
import threading
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

FUNCTION_WORDS: frozenset[str] = frozenset(
    ("的", "了", "是", "吗", "呢", "吧", "啊", "这", "那", "请", "个", "和", "与", "在", "有")
    + ("什么", "把", "被", "对")
)
"""Grammatical words with no topic of their own (dropped before clustering questions)."""

STOP_WORDS: frozenset[str] = FUNCTION_WORDS | frozenset(
    ("及", "或", "为", "着", "给", "就", "也", "都", "而", "又", "之", "其", "该", "此")
    + ("这款", "那款", "这个", "那个", "一款", "一件", "款", "件", "张", "一下", "一张")
    + ("图", "图中", "图片", "照片", "中", "怎么", "如何", "哪", "哪个", "哪些", "多少")
    + ("最", "相关", "匹配", "到", "给定", "进行", "描述", "商品", "产品", "风格", "适合")
    + ("是否", "还是", "以及")
    + ("a", "an", "the", "of", "and", "or", "for", "with", "in", "on", "to")
)
"""Words keyword search ignores: :data:`FUNCTION_WORDS`, the boilerplate of questions
(图片, 匹配, 描述, ...) and English function words."""

_TOKEN_OK = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
_lock = threading.Lock()
_tokenizers: dict[tuple[str, ...], Any] = {}


def jieba_tokenizer(extra_words: tuple[str, ...] = ()) -> Any:
    """A private ``jieba.Tokenizer``, built on first use and shared by every caller.

    Args:
        extra_words: Words added to jieba's dictionary; each distinct tuple gets its own
            tokenizer, so the keyword tokenizer (no extra words) never changes.

    Returns:
        The initialised tokenizer (thread-safe to share).
    """
    with _lock:
        tokenizer = _tokenizers.get(extra_words)
        if tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            for word in extra_words:
                tokenizer.add_word(word)
            _tokenizers[extra_words] = tokenizer
    return tokenizer


def words(
    text: str, *, drop: frozenset[str] = frozenset(), extra_words: tuple[str, ...] = ()
) -> list[str]:
    """jieba words of ``text``, lower-cased, without punctuation, spaces or ``drop``.

    Args:
        text: Any Chinese (or mixed) text; ``None`` counts as empty.
        drop: Words to leave out, e.g. :data:`STOP_WORDS` or :data:`FUNCTION_WORDS`.
        extra_words: Dictionary words for :func:`jieba_tokenizer`.

    Returns:
        The words in order of appearance.
    """
    out = []
    for tok in jieba_tokenizer(extra_words).lcut(text or ""):
        tok = tok.strip().lower()
        if not tok or tok in drop or not _TOKEN_OK.search(tok):
            continue
        out.append(tok)
    return out


def tokenize(text: str) -> list[str]:
    """Keyword tokens of ``text``: its :func:`words` without :data:`STOP_WORDS`."""
    return words(text, drop=STOP_WORDS)


def token_id(token: str) -> int:
    """A stable 31-bit index for a token (CRC-32; the same in every process and release)."""
    return zlib.crc32(token.encode("utf-8")) & 0x7FFFFFFF


@dataclass(frozen=True)
class SparseVector:
    """Sorted unique indices and their weights."""

    indices: list[int]
    values: list[float]

    def __bool__(self) -> bool:
        return bool(self.indices)


def sparse_vector(text: str) -> SparseVector:
    """The keyword sparse vector of a caption or a query (term counts by hashed token)."""
    counts: Counter[int] = Counter(token_id(t) for t in tokenize(text))
    indices = sorted(counts)
    return SparseVector(indices, [float(counts[i]) for i in indices])
