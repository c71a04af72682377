"""Variant groups of a catalog, stored as a payload value for Qdrant's grouping.

Two photos are variants (the same product shot again, or the same model in another colour)
when their CLIP image vectors are close (cosine at least ``image_min``) and their look vectors
(:mod:`ingest.look`, the grey-level outline, which a colour change keeps) are close too (cosine
at least ``look_min``). Where a collection has no look vector, the image vector decides alone.
The thresholds are settings (``TUWEN_VARIANT_IMAGE_MIN``, ``TUWEN_VARIANT_LOOK_MIN``).

Qdrant's grouping groups a query's results by a stored payload value; it cannot group by a
vector threshold. So the relation is made a value: :func:`duplicate_groups` finds a whole
catalog's groups (each photo's nearest neighbours from the store, pairs passing both
thresholds joined transitively) and :func:`store_groups` (``tuwen duplicates --store``) writes
each point's group id to its ``variant`` payload field and records the thresholds with the
collection. Once a collection has them, ``tuwen ingest`` keeps them current: a run that adds,
changes or removes photos computes the groups again with the recorded thresholds
(:func:`refresh_groups`). The search side is :mod:`service.answering.variants`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ingest.store import IMAGE, LOOK, VARIANT, Leg, Search, Store, point_id

#: Least cosine of two variants' CLIP image vectors (``TUWEN_VARIANT_IMAGE_MIN``'s default).
IMAGE_MIN = 0.998
#: Least cosine of two variants' look vectors (``TUWEN_VARIANT_LOOK_MIN``'s default).
LOOK_MIN = 0.99
#: The collection metadata recording the thresholds the stored ``variant`` keys were made with.
META = "variants"


def thresholds(settings: object) -> dict[str, float]:
    """``image_min`` and ``look_min`` from the settings (``TUWEN_VARIANT_*``)."""
    return {
        "image_min": float(getattr(settings, "variant_image_min", IMAGE_MIN)),
        "look_min": float(getattr(settings, "variant_look_min", LOOK_MIN)),
    }


def _unit(v: Sequence[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    n = float(np.linalg.norm(a))
    return a / n if n > 0 else a


def vectors_of(store: Store, ids: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    wanted = [IMAGE, LOOK] if store.has_look else [IMAGE]
    out = {}
    for p in store.get(list(ids), wanted):
        if IMAGE in p.vectors:
            look = p.vectors.get(LOOK)
            out[p.id] = (_unit(p.vectors[IMAGE]), _unit(look) if look is not None else None)
    return out


def close(
    a: tuple[np.ndarray, np.ndarray | None],
    b: tuple[np.ndarray, np.ndarray | None],
    image_min: float,
    look_min: float,
) -> bool:
    if float(a[0] @ b[0]) < image_min:
        return False
    return a[1] is None or b[1] is None or float(a[1] @ b[1]) >= look_min


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
    stored = stored_keys(store, list(key))
    changed = [(pid, {VARIANT: k}) for pid, k in key.items() if stored.get(pid) != k]
    for start in range(0, len(changed), 1024):
        store.update_payloads(changed[start : start + 1024])
    made = {"image_min": image_min, "look_min": look_min, "groups": len(groups)}
    store.set_metadata_value(META, made)
    return len(changed)


def stored_keys(store: Store, ids: Sequence[str]) -> dict[str, str]:
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
        vectors = vectors_of(store, chunk)
        searches = [
            Search((Leg(vectors[i][0], IMAGE, neighbours + 1),), neighbours + 1)
            for i in chunk
            if i in vectors
        ]
        found = store.search_batch(searches)
        near_ids = {h.id for hs in found for h in hs}
        near = vectors_of(store, sorted(near_ids - set(vectors))) | vectors
        for i, hs in zip([i for i in chunk if i in vectors], found, strict=True):
            for h in hs:
                files[h.id] = h.file
                if (
                    h.id != i
                    and h.id in near
                    and close(vectors[i], near[h.id], image_min, look_min)
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


def refresh_groups(store: Store) -> int | None:
    """Computes and stores the groups again with the thresholds recorded by
    :func:`store_groups`, when the collection has them.

    Returns:
        The number of groups, or ``None`` when the collection has no stored groups.
    """
    made = store.metadata_value(META)
    if not isinstance(made, dict):
        return None
    limits = {
        "image_min": float(made.get("image_min", IMAGE_MIN)),
        "look_min": float(made.get("look_min", LOOK_MIN)),
    }
    groups = duplicate_groups(store, **limits)
    store_groups(store, groups, **limits)
    return len(groups)
