"""Attribute likelihood: photos without a real caption, ranked by how likely a product text's
attributes are for them.

A retrieve question names a product by its title; when no annotated product carries that
title, the product is most likely one of the photos without a caption. Their attributes are
not known, but the captioner gave each a distribution per field (``likely`` in the payload:
:attr:`ingest.captioning.Generated.likely`). A photo's score for a text is the probability of
the text's identifying attributes under those distributions, fields taken as independent:

    score = Π_f (p_f(value_f) + ε)

over the text's brand, gender, colour, usage and category (a value the photo does not hold
as plausible counts as probability 0; a value no candidate holds, such as a brand the
captioner never learned, is left out, as it tells no candidate from another). So a photo that is surely a 衬衫 and probably 黑色
outranks one whose generated caption says 黑色 but that may be a T恤, which a hard-label match
cannot tell apart.

The candidates are gathered in the store: photos without a real caption holding at least all
but ``slack`` of the text's values as plausible (the indexed ``plausible.<field>``), nearest to
the text's CLIP vector, at most ``pool`` of them; they are scored here. On catalog-dev's
retrieve questions whose only accepted photos have no caption (87), with a 40-epoch
from-scratch CLIP and its answer heads, ranking the photos without a caption by this score put
an accepted one first for 33, against 9 for the fused text ranking and its look-alikes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from ingest.hits import Hit
from ingest.store import IMAGE, Agree, Leg
from ingest.store.facets import Filters
from ingest.store.records import LIKELY
from service.answering.agreement import identifying
from service.answering.fusion import Fused

#: Probability added to every field's, so one field the photo does not hold as plausible
#: lowers its score without ruling it out.
EPSILON = 1e-3
#: Candidates asked for per text; the store reads twice a search's limit to order its ties
#: (:meth:`ingest.store.Store.search_batch`), so up to 400 are gathered and scored.
POOL = 200
#: The key of the plausible values in the payload.
PLAUSIBLE = "plausible"


def likelihood_request(
    attributes: Mapping[str, str],
    vector: Sequence[float],
    *,
    pool: int = POOL,
    slack: int = 1,
    filters: Filters = (),
) -> Fused | None:
    """The store request for a text's candidates (see the module docstring).

    Args:
        attributes: The text's parsed attributes.
        vector: Its CLIP text vector (the nearest candidates are gathered first).
        pool: Candidates asked for (the store gathers twice as many: see :data:`POOL`).
        slack: A candidate may lack this many of the text's values among its plausible ones.
        filters: The search's attribute filter.

    Returns:
        The request, or ``None`` when the text states no identifying attribute.
    """
    identity = identifying(attributes)
    if not identity:
        return None
    values = tuple((f, v, 1.0) for f, v in identity.items())
    agree = Agree(values, min_count=max(1, len(values) - slack), pool=pool, key=PLAUSIBLE)
    return Fused(
        (Leg(vector, IMAGE, pool, agree=agree),),
        limit=pool,
        uncaptioned_only=True,
        filters=filters,
        payload=(LIKELY,),
    )


def likelihood(hit: Hit, attributes: Mapping[str, str], epsilon: float = EPSILON) -> float:
    """``Π_f (p_f(value_f) + ε)`` of a photo for a text's identifying attributes.

    Args:
        hit: The photo (its ``likely`` payload; none: every field counts as ε).
        attributes: The text's attributes (the fields to score).
        epsilon: :data:`EPSILON`.
    """
    likely = hit.likely or {}
    log = 0.0
    for name, value in identifying(attributes).items():
        dist = likely.get(name) or {}
        log += math.log(float(dist.get(value, 0.0)) + epsilon)
    return math.exp(log)


def by_likelihood(hits: Sequence[Hit], attributes: Mapping[str, str]) -> list[Hit]:
    """The photos that have plausible values, best first, scored by :func:`likelihood` over
    the fields whose stated value some of them hold (ties: the store's order, nearest to the
    text first).

    Args:
        hits: Candidates from :func:`likelihood_request`.
        attributes: The text's attributes.
    """
    ranked = [h for h in hits if h.likely]
    held = {
        f: v
        for f, v in identifying(attributes).items()
        if any(v in ((h.likely or {}).get(f) or {}) for h in ranked)
    }
    scored = [(likelihood(h, held), i, h) for i, h in enumerate(ranked)]
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [replace(h, score=float(f"{s:.4g}")) for s, _, h in scored]
