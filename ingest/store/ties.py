"""Where a ranking fetched from the store may be cut: between two scores, never inside a tie.

A store returns the points of a tied group in an order of its own, which differs between two
stores of the same content, so a cut inside a group would keep different points in each.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.hits import Hit


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
