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

STOP_WORDS = frozenset(
    [
        "的",
        "了",
        "和",
        "与",
        "及",
        "或",
        "是",
        "在",
        "有",
        "为",
        "着",
        "把",
        "被",
        "给",
        "对",
        "就",
        "也",
        "都",
        "而",
        "又",
        "之",
        "其",
        "这",
        "那",
        "这款",
        "那款",
        "这个",
        "那个",
        "一款",
        "一件",
        "款",
        "件",
        "个",
        "张",
        "请",
        "图",
        "图中",
        "图片",
        "照片",
        "中",
        "吗",
        "呢",
        "吧",
        "啊",
        "什么",
        "怎么",
        "如何",
        "哪",
        "哪个",
        "哪些",
        "多少",
        "一下",
        "一张",
        "最",
        "相关",
        "匹配",
        "到",
        "给定",
        "进行",
        "描述",
        "商品",
        "产品",
        "风格",
        "适合",
        "该",
        "此",
        "是否",
        "还是",
        "以及",
        "a",
        "an",
        "the",
        "of",
        "and",
        "or",
        "for",
        "with",
        "in",
        "on",
        "to",
    ]
)

_TOKEN_OK = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
_lock = threading.Lock()
_tokenizer = None


def _jieba():
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tk = jieba.Tokenizer()
            tk.initialize()
            _tokenizer = tk
    return _tokenizer


def tokenize(text: str) -> list[str]:
    """jieba tokens of ``text``, lower-cased, without stop words, punctuation or spaces."""
    tokens = []
    for tok in _jieba().lcut(text or ""):
        tok = tok.strip().lower()
        if not tok or tok in STOP_WORDS or not _TOKEN_OK.search(tok):
            continue
        tokens.append(tok)
    return tokens


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
