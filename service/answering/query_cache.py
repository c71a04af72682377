"""A bounded LRU cache of query text vectors: real query streams repeat, the text tower is the
costliest step of a text search.

Texts are normalised before lookup (surrounding whitespace dropped, inner runs of whitespace made
one space: the tokenizer splits on whitespace, so these spellings tokenize alike), and a miss
encodes the normalised text, so a hit returns exactly what a miss would have.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The cache key of a query text: stripped, whitespace runs as one space."""
    return _SPACE.sub(" ", text).strip()


class QueryCache:
    """Normalised text → vector, least recently used first out; safe across threads.

    Args:
        size: Most texts kept (``TUWEN_QUERY_CACHE``); 0 keeps none (every text is encoded).
    """

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"TUWEN_QUERY_CACHE must be ≥ 0, got {size}")
        self.size = size
        self.hits = 0
        self.misses = 0
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    @property
    def hit_rate(self) -> float:
        """Hits over lookups so far (0.0 before any)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def encode(self, texts: list[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """The vectors of ``texts``, encoding only the ones not cached (in one call).

        Args:
            texts: Query texts.
            encode: The text encoder (texts → one row per text).

        Returns:
            One row per text, in order.
        """
        keys = [normalise(t) for t in texts]
        if self.size == 0:
            self.misses += len(keys)
            return encode(keys)
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for key in keys:
                vec = self._vectors.get(key)
                if vec is not None:
                    self._vectors.move_to_end(key)
                    found[key] = vec
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            fresh = np.asarray(encode(missing))
            fresh.setflags(write=False)  # rows are shared by every caller of the same text
            with self._lock:
                for key, vec in zip(missing, fresh, strict=True):
                    found[key] = vec
                    self._vectors[key] = vec
                    self._vectors.move_to_end(key)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        with self._lock:
            self.misses += len(missing)
            self.hits += len(keys) - len(missing)
        return np.stack([found[k] for k in keys])
