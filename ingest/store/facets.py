"""Attribute filters and facet counts: the store side of filtered search and ``/v1/facets``.

A filter is ``{field: values}`` over the stored ``attributes`` (canonical values from
:mod:`ingest.attributes`): a point passes when, for every field, its value is one of the
field's values (``any of``). Facets count the points per value of one attribute field, with
Qdrant's facet API on both backends (Qdrant Edge and qdrant-client have it), over the whole
catalog or over given point ids, narrowed by a filter.

:class:`Faceted` is a mixin of :class:`~ingest.store.base.Store`; the backends supply
:meth:`Faceted._match_any` and :meth:`Faceted._facet`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from ingest.attributes.words import ALL_FIELDS
from ingest.hits import Hit

#: The attribute fields a search may be filtered or faceted by.
FILTER_FIELDS: tuple[str, ...] = tuple(ALL_FIELDS)

#: A filter in hashable form: ((field, (value, ...)), ...), fields sorted.
Filters = tuple[tuple[str, tuple[str, ...]], ...]


def as_filters(filters: Mapping[str, Sequence[str]] | Filters | None) -> Filters:
    """A filter mapping in the hashable form :class:`~ingest.store.Search` holds.

    Args:
        filters: ``{field: [value, ...]}``; fields without values are dropped.

    Raises:
        ValueError: A field is not an attribute field (the message names it).
    """
    if not filters:
        return ()
    items = filters.items() if isinstance(filters, Mapping) else filters
    out = []
    for field, values in items:
        if field not in FILTER_FIELDS:
            raise ValueError(
                f"filter field {field!r} is not an attribute field; use one of "
                f"{', '.join(FILTER_FIELDS)}"
            )
        kept = tuple(dict.fromkeys(v for v in values if v))
        if kept:
            out.append((field, kept))
    return tuple(sorted(out))


def passes(hit: Hit, filters: Filters) -> bool:
    """Whether a hit's stored attributes pass ``filters`` (for hits found outside a search)."""
    attributes = hit.attributes or {}
    return all(attributes.get(field) in values for field, values in filters)


class Faceted(abc.ABC):
    """Attribute filters and facets over a backend's conditions (mixed into the Store)."""

    @abc.abstractmethod
    def _match_any(self, key: str, values: Sequence[str]) -> Any:
        """The condition "payload ``key`` is one of ``values``"."""

    @abc.abstractmethod
    def _facet(self, key: str, limit: int, flt: Any) -> list[tuple[str, int]]:
        """(value, count) of payload ``key`` over the points passing ``flt``, most first."""

    # provided by the Store
    @abc.abstractmethod
    def _filter_of(
        self, must: list | None, must_not: list | None, min_should: tuple[list, int] | None = None
    ) -> Any: ...

    @abc.abstractmethod
    def _has_ids(self, ids: Sequence[str]) -> Any: ...

    @abc.abstractmethod
    def _exists(self) -> bool: ...

    def _attribute_conditions(self, filters: Filters) -> list:
        """One "any of" condition per filtered field."""
        return [self._match_any(f"attributes.{f}", list(vs)) for f, vs in filters]

    def _narrowed(self, flts: list, filters: Filters) -> list:
        """Each leg's filter with the attribute filter added (a leg without one gets it)."""
        if not filters:
            return flts
        conditions = self._attribute_conditions(filters)
        return [self._filter_of([*([f] if f is not None else []), *conditions], None) for f in flts]

    def facets(
        self,
        field: str,
        filters: Mapping[str, Sequence[str]] | Filters | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 50,
    ) -> list[tuple[str, int]]:
        """Points per value of attribute ``field``, most first (equal counts by value).

        Args:
            field: An attribute field (:data:`FILTER_FIELDS`).
            filters: Count only the points passing this filter.
            ids: Count only these points (a query's candidates); ``None``: the whole catalog.
            limit: Most values returned.

        Raises:
            ValueError: ``field`` or a filter field is not an attribute field.
        """
        if field not in FILTER_FIELDS:
            raise ValueError(
                f"facet field {field!r} is not an attribute field; use one of "
                f"{', '.join(FILTER_FIELDS)}"
            )
        if not self._exists() or (ids is not None and not ids):
            return []
        must = self._attribute_conditions(as_filters(filters))
        if ids is not None:
            must.append(self._has_ids(list(ids)))
        flt = self._filter_of(must, None) if must else None
        counts = self._facet(f"attributes.{field}", limit, flt)
        return sorted(counts, key=lambda vc: (-vc[1], vc[0]))[:limit]
