"""Variants: near-identical photos grouped into one result.

Two photos are variants (the same product shot again, or the same model in another colour)
when their CLIP image vectors are close (cosine at least ``image_min``) and their look vectors
(:mod:`ingest.look`, the grey-level outline, which a colour change keeps) are close too (cosine
at least ``look_min``). Where a collection has no look vector, the image vector decides alone.

Qdrant's grouping (``query_points_groups``) groups by a stored payload value; variants are a
relation between vectors, not a stored value, so they are grouped here: search results with
:func:`collapse`, a whole catalog with :func:`duplicate_groups` (each photo's nearest
neighbours from the store, joined transitively).

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

import numpy as np

from ingest.hits import Hit
from ingest.store import IMAGE, LOOK, Leg, Search, Store

#: Least cosine of two variants' CLIP image vectors.
IMAGE_MIN = 0.998
#: Least cosine of two variants' look vectors.
LOOK_MIN = 0.99


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
    """Search results with their variants folded in: each hit joins the first (best-ranked)
    group whose lead it is a variant of, else leads a new group; groups keep rank order."""
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
