"""Searching: the store's ranked hit lists, and where a ranking may be cut.

Each search asks the backend wider than wanted and orders equal scores by file name here
(by point id for an ``ids_only`` search): Qdrant returns tied points in an order of its own,
which differs between two stores of the same content. A ``whole_ties`` search is cut
between two scores, never inside a tied group (:func:`whole_ties`).

:class:`Searching` is a mixin of :class:`~ingest.store.base.Store`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ingest.hits import Hit
from ingest.store.records import RETURNED_PAYLOAD, Scored, hit
from ingest.store.schema import Leg, Search, StoredPoint


class Searching(abc.ABC):
    """Ranked searches over a backend's query (mixed into the Store; :meth:`_narrowed`
    comes from :class:`~ingest.store.facets.Faceted`)."""

    # What the store and its backend provide.
    @abc.abstractmethod
    def _filter(
        self, captioned_only: bool, exclude_ids: Sequence[str], uncaptioned_only: bool, leg: Leg
    ) -> Any: ...

    @abc.abstractmethod
    def _nearest(self, leg: Leg, limit: int, flt: Any, fields: list[str]) -> Any: ...

    @abc.abstractmethod
    def _fused(self, s: Search, flts: list, fields: list[str]) -> Any: ...

    @abc.abstractmethod
    def _query_batch(self, requests: list) -> list[list]: ...

    @abc.abstractmethod
    def require(self) -> Any: ...

    @abc.abstractmethod
    def get(self, ids: Sequence[str], vectors: Sequence[str] = ()) -> list[StoredPoint]: ...

    def _request(self, s: Search) -> Any:
        flts = [
            self._filter(s.captioned_only, s.exclude_ids, s.uncaptioned_only, leg) for leg in s.legs
        ]
        flts = self._narrowed(flts, s.filters)  # the attribute filter (ingest.store.facets)
        fields = [] if s.ids_only else [*RETURNED_PAYLOAD, *s.payload]
        if len(s.legs) == 1:
            return self._nearest(s.legs[0], s.limit, flts[0], fields)
        return self._fused(s, flts, fields)

    def search_batch(self, searches: Sequence[Search]) -> list[list[Hit]]:
        """Run several searches at once; one ranked hit list per search.

        Equal scores come out ordered by file name (by point id for an ``ids_only`` search),
        so the same search always ranks the same way. Fused scores tie often (RRF: ranks 1
        and 5 score as 5 and 1) and Qdrant returns ties in no fixed order, so each search asks
        for twice its limit and cuts here; a ``whole_ties`` search asks for a quarter more and
        is cut between two scores (:func:`whole_ties`).

        Raises:
            StoreError: there is no collection.
        """
        if not searches:
            return []
        self.require()
        depths = [tie_depth(s.limit) if s.whole_ties else 2 * s.limit for s in searches]
        wide = [self._request(replace(s, limit=d)) for s, d in zip(searches, depths, strict=True)]
        out = []
        for s, d, scored in zip(searches, depths, self._query_batch(wide), strict=True):
            ranked = sorted((hit(p) for p in scored), key=lambda h: (-h.score, h.file, h.id))
            out.append(whole_ties(ranked, s.limit, d) if s.whole_ties else ranked[: s.limit])
        return out

    def search(self, search: Search) -> list[Hit]:
        """One search (see :meth:`search_batch`)."""
        return self.search_batch([search])[0]

    def with_payload(self, hits: Sequence[Hit], extra: Sequence[str] = ()) -> list[Hit]:
        """The hits of an ``ids_only`` search with what a search returns of each point's
        payload (and the ``extra`` fields), read in one call; scores are kept and a point
        gone since is left out."""
        wanted = {*RETURNED_PAYLOAD, *extra}
        found = {p.id: p.payload for p in self.get([h.id for h in hits])}
        return [
            replace(
                hit(Scored(h.id, {k: v for k, v in found[h.id].items() if k in wanted})),
                score=h.score,
            )
            for h in hits
            if h.id in found
        ]


def tie_depth(limit: int) -> int:
    """How deep a search whose cut must fall between two scores is fetched: a quarter more
    than wanted (at least two more), to see where a tie across the cut ends."""
    return limit + max(2, limit // 4)


def whole_ties(ranked: Sequence[Hit], limit: int, fetched: int) -> list[Hit]:
    """The first ``limit`` hits of a ranking fetched ``fetched`` deep, cut between two scores
    rather than inside a group of equal ones.

    Which points of a tied group a store returns, and in what order, is its own (two stores
    of the same content differ), so a group that crosses position ``limit`` is kept whole
    when it ends inside the fetched hits, and left out when it may go on past them.

    Args:
        ranked: Hits best first, as the store returned them (at most ``fetched``).
        limit: The hits wanted.
        fetched: The hits asked of the store (:func:`tie_depth`).

    Returns:
        The hits before the cut (fewer than ``limit``, or more, only around a tied group).
    """
    if len(ranked) <= limit:
        return list(ranked)
    edge = ranked[limit - 1].score
    if ranked[limit].score != edge:
        return list(ranked[:limit])
    if len(ranked) >= fetched and ranked[-1].score == edge:
        return [h for h in ranked if h.score > edge]  # the group may reach past the fetch
    return [h for h in ranked if h.score >= edge]
