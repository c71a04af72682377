"""A deterministic share of a catalog by point id, so several workers can ingest one catalog.

``tuwen ingest DIR --shard I/N`` takes the photos whose point id (uuid5 of the relative path)
is ``I`` modulo ``N``: every worker computes the same split without talking to the others, a
photo always lands in the same share, and the N shares together are the whole catalog.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from ingest.catalog import CatalogItem
from ingest.store import point_id

T = TypeVar("T")
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Share ``index`` (0-based) of ``count``.

    Attributes:
        index: Which share, ``0 <= index < count``.
        count: How many shares the catalog is split into.
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` as a shard.

        Raises:
            ValueError: not ``I/N`` with ``0 <= I < N``; the message names ``--shard``.
        """
        m = _SPEC.match(text)
        if not m:
            raise ValueError(f"--shard {text!r}: expected I/N, e.g. 0/4 (share 0 of 4)")
        index, count = int(m.group(1)), int(m.group(2))
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"--shard {text!r}: I must be in 0..N-1 and N at least 1")
        return cls(index, count)

    def owns(self, pid: str) -> bool:
        """Whether the point id ``pid`` (a UUID string) is in this share."""
        return uuid.UUID(pid).int % self.count == self.index

    def items(self, items: Iterable[CatalogItem]) -> list[CatalogItem]:
        """The catalog items of this share."""
        return [i for i in items if self.owns(point_id(i.rel))]

    def stored(self, stored: Mapping[str, T]) -> dict[str, T]:
        """The stored entries (by point id) of this share: the only ones it may prune."""
        return {pid: e for pid, e in stored.items() if self.owns(pid)}

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
