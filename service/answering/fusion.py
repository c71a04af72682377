"""Reciprocal-rank fusion: several rankings of the catalog made into one.

Every ranking that combines more than one input goes through :func:`fuse`. An input is a
:class:`~ingest.store.Leg` (a query vector against one named vector, searched in the store)
or a ranked hit list already in hand. Each leg is searched alone, all of them in one batched
store query, and the rankings are fused here.

The formula: ``score = Σ 1 / (k + position)``, position counted from 0 in each input, and
hits of equal score in one input share the position of the first of them. A store returns
tied points in an order of its own, which differs between two stores of the same content
(same keywords, identical captions, duplicate photos), so a fusion of the store's order
would rank the same catalog differently in each; each leg is also cut between two scores,
never inside a tied group (:func:`ingest.store.searching.whole_ties`). The legs return ids and
scores; the fused top's payload is read in one more call. Equal fused scores are ordered by
file name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ingest.hits import Hit
from ingest.store import Leg, Search, Store


@dataclass(frozen=True)
class Fused:
    """One ranking to compute.

    Attributes:
        legs: Store searches to fuse. One leg and no ranked list is a plain
            nearest-neighbour search.
        limit: Most hits returned.
        k: The RRF constant: the larger, the less the first positions outweigh the rest.
        ranked: Rankings already in hand, fused with the legs (they count first).
        captioned_only: Only annotated products.
        uncaptioned_only: Only photos without a caption.
        exclude_ids: Point ids never returned.
        filters: Attribute filter (:func:`ingest.store.facets.as_filters`) on every leg.
        payload: Payload fields the hits carry besides the usual ones (``likely``).
    """

    legs: tuple[Leg, ...]
    limit: int
    k: int = 60
    ranked: tuple[Sequence[Hit], ...] = ()
    captioned_only: bool = False
    uncaptioned_only: bool = False
    exclude_ids: tuple[str, ...] = ()
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    payload: tuple[str, ...] = ()

    def _search(self, legs: tuple[Leg, ...], limit: int) -> Search:
        return Search(
            legs,
            limit=limit,
            captioned_only=self.captioned_only,
            uncaptioned_only=self.uncaptioned_only,
            exclude_ids=self.exclude_ids,
            rrf_k=self.k,
            filters=self.filters,
            payload=self.payload,
        )


def rrf(lists: Sequence[Sequence[Hit]], k: int, limit: int | None = None) -> list[Hit]:
    """Fuses ranked hit lists: ``score = Σ 1 / (k + position)``, position from 0, equal
    scores in one list at the position of the first of them.

    Args:
        lists: Rankings, best first.
        k: The RRF constant.
        limit: Most hits returned (default: all).

    Returns:
        The fused ranking, best first; equal scores by file name; scores rounded to 6 places.
    """
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits in lists:
        shared = 0
        for position, h in enumerate(hits):
            if position == 0 or h.score != hits[position - 1].score:
                shared = position  # a tie shares the position of its first hit
            scores[h.id] = scores.get(h.id, 0.0) + 1.0 / (k + shared)
            first.setdefault(h.id, h)
    order = sorted(scores, key=lambda i: (-scores[i], first[i].file, i))[:limit]
    return [replace(first[i], score=round(scores[i], 6)) for i in order]


def fuse(store: Store, requests: Sequence[Fused]) -> list[list[Hit]]:
    """Computes several fused rankings with one batched store query.

    Args:
        store: The store the legs search.
        requests: The rankings to compute.

    Returns:
        One ranking per request, best first.
    """
    searches: list[Search] = []
    slots: list[slice] = []
    for r in requests:
        start = len(searches)
        if r.ranked or len(r.legs) > 1:  # each leg searched alone, as deep as it reaches
            searches += [
                replace(r._search((leg,), leg.limit), whole_ties=True, ids_only=True)
                for leg in r.legs
            ]
        elif r.legs:
            searches.append(r._search(r.legs, r.limit))
        slots.append(slice(start, len(searches)))
    results = store.search_batch(searches)
    out = []
    for r, slot in zip(requests, slots, strict=True):
        found = results[slot]
        if r.ranked or len(r.legs) > 1:
            top = rrf([*r.ranked, *found], r.k, r.limit)
            out.append(_filled(store, top, r.payload))
        else:
            out.append((found or [[]])[0])
    return out


def _filled(store: Store, hits: list[Hit], extra: Sequence[str]) -> list[Hit]:
    """Fused hits with their payload: the legs return ids and scores only (a point's payload
    costs more to read than its score), so the fused top is read in one call; equal fused
    scores are then ordered by file name."""
    bare = [h for h in hits if not h.file]
    if not bare:
        return hits
    read = {h.id: h for h in store.with_payload(bare, extra)}
    whole = [h if h.file else read[h.id] for h in hits if h.file or h.id in read]
    return sorted(whole, key=lambda h: (-h.score, h.file, h.id))
