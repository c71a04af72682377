"""Grouped search: a search's best groups of points sharing one payload value.

Qdrant groups a query's results by a payload key (``query_points_groups``: the best
``limit`` groups, at most ``group_size`` points each, points without the key left out).
qdrant-client has it, so :class:`~ingest.store.ServerStore` asks Qdrant. The Python binding of
Qdrant Edge (``qdrant-edge-py`` 0.9) has no grouped query (its Rust crate has
``query_groups``, not exposed), so for :class:`~ingest.store.EdgeStore` the same rule runs
here: the search is asked wider (``limit × group_size`` points, doubled until enough groups
or the collection runs out, as Qdrant's own group-by driver widens its requests) and its
points grouped in rank order.

Both ways the groups come out by their best point's score (equal scores by file name), each
group's points the same way, so one request groups alike on both backends.

:class:`Grouped` is a mixin of :class:`~ingest.store.base.Store`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ingest.hits import Hit
from ingest.store.records import hit
from ingest.store.schema import Search

#: Widest request of the grouping done here (points), as a bound on a search's cost.
MAX_WIDE = 4096


class Grouped(abc.ABC):
    """Grouped search over a backend's query (mixed into the Store)."""

    def _query_groups(self, request: Any, key: str, groups: int, size: int) -> list[list] | None:
        """Qdrant's grouped query of ``request``: scored points per group, best group first;
        ``None`` where the backend has no grouped query (then the store groups)."""
        return None

    @abc.abstractmethod
    def _is_empty(self, key: str) -> Any:
        """The condition "payload ``key`` is missing or empty"."""

    @abc.abstractmethod
    def _match_any(self, key: str, values: Sequence[str]) -> Any:
        """The condition "payload ``key`` is one of ``values``"."""

    @abc.abstractmethod
    def _scroll_page(self, fields: list[str], flt: Any, offset: Any) -> tuple[list, Any]: ...

    # provided by the Store
    @abc.abstractmethod
    def _request(self, s: Search) -> Any: ...

    @abc.abstractmethod
    def _query_batch(self, requests: list) -> list[list]: ...

    @abc.abstractmethod
    def _retrieve(self, ids: list[str], vectors: list[str]) -> list: ...

    @abc.abstractmethod
    def _count(self, flt: Any) -> int: ...

    @abc.abstractmethod
    def _filter_of(
        self, must: list | None, must_not: list | None, min_should: tuple[list, int] | None = None
    ) -> Any: ...

    @abc.abstractmethod
    def require(self) -> Any: ...

    @abc.abstractmethod
    def _exists(self) -> bool: ...

    def count_with(self, key: str) -> int:
        """The number of points whose payload has ``key`` (0 without a collection)."""
        if not self._exists():
            return 0
        return self._count(self._filter_of(None, [self._is_empty(key)]))

    def with_values(self, key: str, values: Sequence[str], chunk: int = 256) -> dict[str, str]:
        """Point id → its payload ``key`` for every point whose ``key`` is one of ``values``
        (a filtered scroll over the key's index; nothing without a collection).

        Args:
            key: An indexed keyword payload field.
            values: The values wanted.
            chunk: Values per filtered scroll.
        """
        wanted = sorted({str(v) for v in values if v not in (None, "")})
        if not wanted or not self._exists():
            return {}
        out: dict[str, str] = {}
        for start in range(0, len(wanted), chunk):
            flt = self._filter_of([self._match_any(key, wanted[start : start + chunk])], None)
            offset = None
            while True:
                records, offset = self._scroll_page([key], flt, offset)
                for r in records:
                    value = (r.payload or {}).get(key)
                    if value not in (None, ""):
                        out[str(r.id)] = str(value)
                if offset is None:
                    break
        return out

    def search_groups(self, search: Search, key: str, size: int = 3) -> list[list[Hit]]:
        """The ``search.limit`` best groups of points with equal payload ``key``.

        Args:
            search: Any search (one leg or fused, filtered); its ``limit`` counts groups.
            key: The payload field grouped by; points without it are left out.
            size: Most points per group.

        Returns:
            Groups, best first, each its points best first (the first leads).

        Raises:
            StoreError: there is no collection.
        """
        self.require()
        request = self._request(search)
        native = self._query_groups(request, key, search.limit, size)
        if native is not None:
            groups = [[hit(p) for p in g] for g in native]
        else:
            groups = self._grouped_here(search, key, size)
        ordered = [sorted(g, key=_rank) for g in groups if g]
        return sorted(ordered, key=lambda g: _rank(g[0]))[: search.limit]

    def _grouped_here(self, search: Search, key: str, size: int) -> list[list[Hit]]:
        """Grouping by ``key`` over a widening search (the backend has no grouped query)."""
        wide = min(MAX_WIDE, max(1, search.limit * size))
        while True:
            scored = self._query_batch([self._request(replace(search, limit=wide))])[0]
            hits = sorted((hit(p) for p in scored), key=_rank)
            keys = self._keys([h.id for h in hits], key)
            groups: dict[str, list[Hit]] = {}
            for h in hits:
                value = keys.get(h.id)
                if value is None:
                    continue
                group = groups.setdefault(value, [])
                if len(group) < size:
                    group.append(h)
            if len(groups) >= search.limit or len(scored) < wide or wide >= MAX_WIDE:
                return list(groups.values())
            wide = min(MAX_WIDE, wide * 2)

    def _keys(self, ids: Sequence[str], key: str) -> dict[str, str]:
        """Point id → its payload ``key`` as text (points without it left out)."""
        if not ids:
            return {}
        out = {}
        for r in self._retrieve(list(ids), []):
            value = (r.payload or {}).get(key)
            if value not in (None, ""):
                out[str(r.id)] = str(value)
        return out


def _rank(h: Hit) -> tuple[float, str]:
    return (-h.score, h.file)
