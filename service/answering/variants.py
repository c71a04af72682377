"""Variants at search time: near-identical photos grouped into one result.

What makes two photos variants, and how a catalog's groups are stored as a payload value for
Qdrant's grouping, is :mod:`ingest.variants`. While every point has its key and the thresholds
are the ones recorded (:func:`~ingest.variants.keyed`), ``collapse=true`` is a grouped search
by ``variant`` (:func:`search_collapsed`): Qdrant's grouping on a Qdrant server, the same rule
in tuwen on Qdrant Edge, whose Python binding has no grouped query (:mod:`ingest.store.groups`).
The search then returns ``k`` distinct products, each with its variants among the matches.
Without keys (never stored, or stale after an upload or a new threshold) the ranked hits are
grouped here by the vectors (:func:`collapse`).

The stored groups are transitive (A~B and B~C put A and C together); the vector grouping of
:func:`collapse` asks each hit to be close to its group's lead. Where the two differ, the
stored groups are what ``tuwen duplicates`` reports.

The default thresholds were measured on catalog-dev (3787 photos) with a CLIP trained on it
(``python bench/variants.py --data-dir DIR``): of each photo's nearest neighbour by image
vector, the pairs whose captions parse to the same brand, gender and category (the same model,
any colour) are 10.6% of all; the look vector separates them best (look ≥ 0.95: 47% of the
265 kept pairs; ≥ 0.98: 74% of 76; ≥ 0.99: 89% of 36). With image ≥ 0.998 and look ≥ 0.99,
22 pairs are kept and 91% are the same model. The image cosine depends on the model (that
CLIP's nearest neighbours have a median cosine of 0.994): measure it again for another model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingest.hits import Hit
from ingest.store import VARIANT, Search, Store
from ingest.store.facets import Filters, passes
from ingest.variants import IMAGE_MIN, LOOK_MIN, close, keyed, stored_keys, thresholds, vectors_of

__all__ = ["GROUP_SIZE", "Group", "collapse", "search_collapsed", "thresholds"]

if TYPE_CHECKING:
    from service.answering.retrieve import Retriever

#: Most products listed per collapsed result (the lead and its variants).
GROUP_SIZE = 8


@dataclass
class Group:
    """Variants found together: the best-ranked one leads, the others are its members."""

    lead: Hit
    members: list[Hit] = field(default_factory=list)


def collapse(
    store: Store,
    hits: Sequence[Hit],
    *,
    image_min: float = IMAGE_MIN,
    look_min: float = LOOK_MIN,
) -> list[Group]:
    """Search results with their variants folded in; groups keep rank order.

    With stored keys for these thresholds (:func:`keyed`), hits with the same ``variant``
    form a group; else each hit joins the first (best-ranked) group whose lead it is a
    variant of by the vectors, or leads a new group.
    """
    if keyed(store, image_min=image_min, look_min=look_min):
        keys = stored_keys(store, [h.id for h in hits])
        by_key: dict[str, Group] = {}
        out: list[Group] = []
        for h in hits:
            key = keys.get(h.id, h.id)
            if key in by_key:
                by_key[key].members.append(h)
            else:
                by_key[key] = Group(h)
                out.append(by_key[key])
        return out
    vectors = vectors_of(store, [h.id for h in hits])
    groups: list[Group] = []
    for h in hits:
        mine = vectors.get(h.id)
        home = None
        if mine is not None:
            for g in groups:
                lead = vectors.get(g.lead.id)
                if lead is not None and close(lead, mine, image_min, look_min):
                    home = g
                    break
        if home is None:
            groups.append(Group(h))
        else:
            home.members.append(h)
    return groups


def search_collapsed(
    retriever: Retriever,
    text: str,
    k: int,
    *,
    filters: Filters = (),
    image_min: float = IMAGE_MIN,
    look_min: float = LOOK_MIN,
    size: int = GROUP_SIZE,
) -> list[Group]:
    """The ``k`` best products for a text, each with its variants: ``Retriever.search`` with
    ``exact_first``, variants collapsed.

    With stored keys (:func:`keyed`) the store's grouped search by ``variant`` runs the
    retriever's hybrid request (the products whose caption is exactly the text lead, with
    their groups); else ``3·k`` ranked hits are collapsed by the vectors and the first ``k``
    groups kept.
    """
    store = retriever.store
    if not keyed(store, image_min=image_min, look_min=look_min):
        hits = retriever.search(text, min(3 * k, 300), exact_first=True, filters=filters)
        return collapse(store, hits, image_min=image_min, look_min=look_min)[:k]
    vec = retriever._encode_texts([text])[0]
    fused = retriever._hybrid(retriever._read(text), vec, k, False)
    search = Search(fused.legs, limit=k, rrf_k=fused.k, filters=filters)
    grouped = [Group(g[0], list(g[1:])) for g in store.search_groups(search, VARIANT, size)]
    exact = [h for h in store.with_caption(text.strip(), limit=k) if passes(h, filters)]
    if not exact:
        return grouped
    keys = stored_keys(store, [h.id for h in exact] + [g.lead.id for g in grouped])
    leading: list[Group] = []
    for h in exact:
        key = keys.get(h.id, h.id)
        same = next((g for g in leading if keys.get(g.lead.id, g.lead.id) == key), None)
        if same is not None:  # a variant of an earlier exact match
            if h.id not in {m.id for m in same.members}:
                same.members.append(h)
            continue
        home = next((g for g in grouped if keys.get(g.lead.id) == key), None)
        if home is not None:
            grouped.remove(home)
        others = [m for m in ([home.lead, *home.members] if home else []) if m.id != h.id]
        leading.append(Group(h, others[: size - 1]))
    return (leading + grouped)[:k]
