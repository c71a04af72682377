"""Variants: near-identical photos grouped into one result.

Two photos are variants (the same product shot again, or the same model in another colour)
when their CLIP image vectors are close (cosine at least ``image_min``) and their look vectors
(:mod:`ingest.look`, the grey-level outline, which a colour change keeps) are close too (cosine
at least ``look_min``). Where a collection has no look vector, the image vector decides alone.
The thresholds are settings (``TUWEN_VARIANT_IMAGE_MIN``, ``TUWEN_VARIANT_LOOK_MIN``).

Qdrant's grouping (``query_points_groups``) groups a query's results by a stored payload
value; it cannot group by a vector threshold. So the relation is made a value first:
:func:`duplicate_groups` finds a whole catalog's groups (each photo's nearest neighbours from
the store, pairs passing both thresholds joined transitively) and :func:`store_groups`
(``tuwen duplicates --store``) writes each point's group id to its ``variant`` payload field
and records the thresholds with the collection. Then, while every point has its key and the
thresholds are the ones recorded (:func:`keyed`), ``collapse=true`` is a grouped search by
``variant`` (:func:`search_collapsed`): Qdrant's grouping on a Qdrant server, the same rule in
tuwen on Qdrant Edge, whose Python binding has no grouped query
(:mod:`ingest.store.groups`). The search then returns ``k`` distinct products, each with its
variants among the matches. Without keys (never stored, or stale after an ingest or a new
threshold) the ranked hits are grouped here by the vectors (:func:`collapse`).

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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ingest.hits import Hit
from ingest.store import IMAGE, LOOK, VARIANT, Leg, Search, Store, point_id
from ingest.store.facets import Filters, passes

if TYPE_CHECKING:
    from service.answering.retrieve import Retriever

#: Least cosine of two variants' CLIP image vectors (``TUWEN_VARIANT_IMAGE_MIN``'s default).
IMAGE_MIN = 0.998
#: Least cosine of two variants' look vectors (``TUWEN_VARIANT_LOOK_MIN``'s default).
LOOK_MIN = 0.99
#: Most products listed per collapsed result (the lead and its variants).
GROUP_SIZE = 8
#: The collection metadata recording the thresholds the stored ``variant`` keys were made with.
META = "variants"


def thresholds(settings: object) -> dict[str, float]:
    """``image_min`` and ``look_min`` from the settings (``TUWEN_VARIANT_*``)."""
    return {
        "image_min": float(getattr(settings, "variant_image_min", IMAGE_MIN)),
        "look_min": float(getattr(settings, "variant_look_min", LOOK_MIN)),
    }


@dataclass
class Group:
    """Variants found together: the best-ranked one leads, the others are its members."""

    lead: Hit
    members: list[Hit] = field(default_factory=list)


def _unit(v: Sequence[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    n = float(np.linalg.norm(a))
    return a / n if n > 0 else a


def _vectors(store: Store, ids: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    wanted = [IMAGE, LOOK] if store.has_look else [IMAGE]
    out = {}
    for p in store.get(list(ids), wanted):
        if IMAGE in p.vectors:
            look = p.vectors.get(LOOK)
            out[p.id] = (_unit(p.vectors[IMAGE]), _unit(look) if look is not None else None)
    return out


def _close(
    a: tuple[np.ndarray, np.ndarray | None],
    b: tuple[np.ndarray, np.ndarray | None],
    image_min: float,
    look_min: float,
) -> bool:
    if float(a[0] @ b[0]) < image_min:
        return False
    return a[1] is None or b[1] is None or float(a[1] @ b[1]) >= look_min


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
        keys = _stored_keys(store, [h.id for h in hits])
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
    vectors = _vectors(store, [h.id for h in hits])
    groups: list[Group] = []
    for h in hits:
        mine = vectors.get(h.id)
        home = None
        if mine is not None:
            for g in groups:
                lead = vectors.get(g.lead.id)
                if lead is not None and _close(lead, mine, image_min, look_min):
                    home = g
                    break
        if home is None:
            groups.append(Group(h))
        else:
            home.members.append(h)
    return groups


def keyed(store: Store, *, image_min: float = IMAGE_MIN, look_min: float = LOOK_MIN) -> bool:
    """Whether every point has its stored ``variant`` key, made with these thresholds."""
    made = store.metadata_value(META)
    if not isinstance(made, dict):
        return False
    if (made.get("image_min"), made.get("look_min")) != (image_min, look_min):
        return False
    n = store.count()
    return n > 0 and store.count_with(VARIANT) == n


def store_groups(
    store: Store,
    groups: Sequence[Sequence[str]],
    *,
    image_min: float = IMAGE_MIN,
    look_min: float = LOOK_MIN,
) -> int:
    """Write each point's ``variant`` key: a group's members get the point id of its first
    file, every other point its own id (Qdrant's grouping leaves out points without the key);
    the thresholds are recorded with the collection (:data:`META`).

    Args:
        groups: :func:`duplicate_groups` made with these thresholds (catalog files).

    Returns:
        The number of points written.
    """
    store.ensure_indexes()  # the ``variant`` index of a collection made before it
    key = {pid: pid for pid in _all_ids(store)}
    for files in groups:
        for f in files:
            key[point_id(f)] = point_id(files[0])
    stored = _stored_keys(store, list(key))
    changed = [(pid, {VARIANT: k}) for pid, k in key.items() if stored.get(pid) != k]
    for start in range(0, len(changed), 1024):
        store.update_payloads(changed[start : start + 1024])
    made = {"image_min": image_min, "look_min": look_min, "groups": len(groups)}
    store.set_metadata_value(META, made)
    return len(changed)


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
    keys = _stored_keys(store, [h.id for h in exact] + [g.lead.id for g in grouped])
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


def _stored_keys(store: Store, ids: Sequence[str]) -> dict[str, str]:
    """Point id → its stored ``variant`` key (points without one left out)."""
    out = {}
    for p in store.get(list(ids)):
        value = p.payload.get(VARIANT)
        if value:
            out[p.id] = str(value)
    return out


def _all_ids(store: Store) -> list[str]:
    return sorted(store.manifest())


def duplicate_groups(
    store: Store,
    *,
    image_min: float = IMAGE_MIN,
    look_min: float = LOOK_MIN,
    neighbours: int = 8,
    batch: int = 256,
) -> list[list[str]]:
    """The catalog's groups of variants (two photos or more), as catalog files, largest first.

    Each photo's ``neighbours`` nearest by image vector are searched in the store; pairs
    passing both thresholds are joined, transitively (union-find).
    """
    ids = _all_ids(store)
    parent = {i: i for i in ids}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    files: dict[str, str] = {}
    for chunk in _chunks(ids, batch):
        vectors = _vectors(store, chunk)
        searches = [
            Search((Leg(vectors[i][0], IMAGE, neighbours + 1),), neighbours + 1)
            for i in chunk
            if i in vectors
        ]
        found = store.search_batch(searches)
        near_ids = {h.id for hs in found for h in hs}
        near = _vectors(store, sorted(near_ids - set(vectors))) | vectors
        for i, hs in zip([i for i in chunk if i in vectors], found, strict=True):
            for h in hs:
                files[h.id] = h.file
                if (
                    h.id != i
                    and h.id in near
                    and _close(vectors[i], near[h.id], image_min, look_min)
                ):
                    parent[root(h.id)] = root(i)
    groups: dict[str, list[str]] = {}
    for i in ids:
        groups.setdefault(root(i), []).append(i)
    named = [sorted(files.get(i, i) for i in g) for g in groups.values() if len(g) > 1]
    return sorted(named, key=lambda g: (-len(g), g[0]))


def _chunks(items: Sequence[str], n: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), n):
        yield items[start : start + n]
