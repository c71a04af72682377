"""The folders of the product names, so that no name is both a photo and a folder."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ingest.store import point_id
from service.http.text import parents

if TYPE_CHECKING:
    from ingest.store import Store


class Folders:
    """How many products sit under each folder of the product names.

    Built from the store's manifest on first use, then kept up to date by this server's own
    writes (products another process adds to a shared Qdrant server after that are not
    seen).
    """

    def __init__(self) -> None:
        self.counts: Counter[str] | None = None

    def load(self, store: Store) -> Counter[str]:
        """The counts, reading the manifest the first time."""
        if self.counts is None:
            manifest = store.manifest()
            self.counts = Counter(f for e in manifest.values() for f in parents(e.file))
        return self.counts

    def clash(self, store: Store, names: Sequence[str]) -> str | None:
        """Why one of ``names`` would be both a file and a folder, or ``None``."""
        counts = self.load(store)
        wanted = set(names)
        for name in names:
            if counts.get(name):
                return f"{name!r} is the folder of {counts[name]} product(s)"
            inside = [n for n in wanted if n.startswith(name + "/")]
            if inside:
                return f"{name!r} is the folder of {inside[0]!r} in this request"
            above = [f for f in parents(name) if f in wanted]
            if above:
                return f"{above[0]!r} is a photo in this request and a folder of {name!r}"
        folders = sorted({f for n in names for f in parents(n)})
        taken = store.get([point_id(f) for f in folders])
        if taken:
            return f"{taken[0].file!r} is a product, so it cannot be a folder"
        return None

    def added(self, name: str) -> None:
        """Count a new product."""
        if self.counts is not None:
            self.counts.update(parents(name))

    def removed(self, name: str) -> None:
        """Uncount a deleted product."""
        if self.counts is not None:
            self.counts.subtract(parents(name))
            for f in parents(name):
                if self.counts[f] <= 0:
                    del self.counts[f]
