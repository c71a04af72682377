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
collection. Once a collection has them, ``tuwen ingest`` keeps them current with the recorded
thresholds (:func:`refresh_groups`): a run that adds, changes or removes photos works out again
only the groups it touched, searching near the photos it wrote and the members of their groups
(one new photo in a million costs a few searches, not a million); a run that changed a large
share of the collection gets the whole pass. The search side is
:mod:`service.answering.variants`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from ingest.hits import Hit
from ingest.store import IMAGE, LOOK, VARIANT, Leg, Search, Store, point_id

#: Least cosine of two variants' CLIP image vectors (``TUWEN_VARIANT_IMAGE_MIN``'s default).
IMAGE_MIN = 0.998
#: Least cosine of two variants' look vectors (``TUWEN_VARIANT_LOOK_MIN``'s default).
LOOK_MIN = 0.99
#: Share of the collection a run may change before its groups are worked out whole again.
FULL_SHARE = 0.2
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
    written = _write_keys(store, key)
    made = {"image_min": image_min, "look_min": look_min, "groups": len(groups)}
    store.set_metadata_value(META, made)
    return written


def _write_keys(store: Store, key: Mapping[str, str]) -> int:
    """Stores each point's ``variant`` key where it differs from the stored one.

    Returns:
        The number of points written.
    """
    stored = stored_keys(store, list(key))
    changed = [(pid, {VARIANT: k}) for pid, k in key.items() if stored.get(pid) != k]
    for start in range(0, len(changed), 1024):
        store.update_payloads(changed[start : start + 1024])
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
    root = _union_find(parent)
    files: dict[str, str] = {}
    for i, h, variant in _neighbours(store, ids, image_min, look_min, neighbours, batch):
        files[h.id] = h.file
        if variant:
            parent[root(h.id)] = root(i)
    groups: dict[str, list[str]] = {}
    for i in ids:
        groups.setdefault(root(i), []).append(i)
    named = [sorted(files.get(i, i) for i in g) for g in groups.values() if len(g) > 1]
    return sorted(named, key=lambda g: (-len(g), g[0]))


def _union_find(parent: dict[str, str]) -> Callable[[str], str]:
    """The root of a point in ``parent`` (a point not in it yet joins as its own root)."""

    def root(i: str) -> str:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    return root


def _neighbours(
    store: Store,
    ids: Sequence[str],
    image_min: float,
    look_min: float,
    neighbours: int,
    batch: int,
) -> Iterator[tuple[str, Hit, bool]]:
    """``(id, hit, is a variant)`` for each of ``ids`` with a vector and each of its
    ``neighbours`` nearest by image vector (itself among them), searched in batches."""
    for chunk in _chunks(ids, batch):
        vectors = vectors_of(store, chunk)
        here = [i for i in chunk if i in vectors]
        found = store.search_batch(
            [Search((Leg(vectors[i][0], IMAGE, neighbours + 1),), neighbours + 1) for i in here]
        )
        near = vectors_of(store, sorted({h.id for hs in found for h in hs} - set(vectors)))
        near |= vectors
        for i, hs in zip(here, found, strict=True):
            for h in hs:
                yield (
                    i,
                    h,
                    h.id != i
                    and h.id in near
                    and close(vectors[i], near[h.id], image_min, look_min),
                )


def _chunks(items: Sequence[str], n: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), n):
        yield items[start : start + n]


def touched_keys(store: Store, ids: Sequence[str]) -> dict[str, str] | None:
    """The stored ``variant`` keys of points a run is about to rewrite or remove (a rewrite
    or a removal takes the key with it), or ``None`` when the collection keeps no groups.

    Args:
        ids: Point ids of the photos the run will change or remove.
    """
    if not isinstance(store.metadata_value(META), dict):
        return None
    return stored_keys(store, ids) if ids else {}


def refresh_groups(
    store: Store,
    changed: Sequence[str] | None = None,
    before: Mapping[str, str] | None = None,
    *,
    full_share: float = FULL_SHARE,
) -> int | None:
    """Computes and stores the groups again with the thresholds recorded by
    :func:`store_groups`, when the collection has them.

    With ``changed`` and ``before`` (what :func:`touched_keys` read before the run), only the
    groups the run touched are worked out again (:func:`_update_groups`): a run that adds one
    photo to a million searches near that photo, not near every photo. A run that changed more
    than ``full_share`` of the collection, or a collection whose group count is not recorded,
    gets the whole pass.

    Args:
        changed: Point ids the run wrote (added or re-embedded); ``None``: the whole pass.
        before: Their stored keys, and the removed points', read before the run.
        full_share: Share of the collection changed above which the whole pass runs.

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
    recorded = made.get("groups")
    touched = len(set(changed or ()) | set(before or ()))
    if (
        changed is None
        or before is None
        or not isinstance(recorded, int)
        or touched > full_share * max(1, store.count())
    ):
        groups = duplicate_groups(store, **limits)
        store_groups(store, groups, **limits)
        return len(groups)
    total = recorded + _update_groups(store, changed, before, **limits)
    store.set_metadata_value(META, {**limits, "groups": total})
    return total


def _update_groups(
    store: Store,
    changed: Sequence[str],
    before: Mapping[str, str],
    *,
    image_min: float,
    look_min: float,
    neighbours: int = 8,
    batch: int = 256,
) -> int:
    """Works out again the groups that changed points and removed ones belonged to, and the
    groups the changed points join, and stores their keys.

    The points looked at are closed under the relation: the members of every group touched
    (by the keys in ``before``), the changed points, each one's close neighbours, and the
    members of the groups those neighbours belong to, until nothing new joins. Their
    neighbours are searched as :func:`duplicate_groups` searches them, and each group among
    them is keyed as :func:`store_groups` keys it (the point id of its first file). Groups
    that no changed point reaches keep their keys.

    Returns:
        The change in the number of groups (two photos or more).
    """
    old = dict(before)
    grouped = store.with_values(VARIANT, set(old.values()))
    for pid, key in grouped.items():
        old.setdefault(pid, key)
    members = set(grouped) | set(vectors_of(store, list(changed)))
    parent: dict[str, str] = {}
    root = _union_find(parent)
    frontier, searched = set(members), set()
    while frontier:
        joined: set[str] = set()
        for i, h, variant in _neighbours(
            store, sorted(frontier), image_min, look_min, neighbours, batch
        ):
            root(i)
            if variant:
                parent[root(h.id)] = root(i)
                joined.add(h.id)
        searched |= frontier
        new = joined - members
        if new:
            keys = stored_keys(store, sorted(new))
            for pid, key in keys.items():
                old.setdefault(pid, key)
            group = store.with_values(VARIANT, set(keys.values()))
            for pid, key in group.items():
                old.setdefault(pid, key)
            new |= set(group)
        members |= new
        frontier = new - searched
    files = {p.id: p.file for p in store.get(sorted(members))}
    components: dict[str, list[str]] = {}
    for pid in files:
        components.setdefault(root(pid), []).append(pid)
    key = {}
    for ids in components.values():
        first = point_id(min(files[i] for i in ids))
        key.update({i: first for i in ids})
    _write_keys(store, key)
    was = Counter(old.get(pid, pid) for pid in set(old) | set(files))
    now = Counter(key.values())
    return sum(1 for n in now.values() if n > 1) - sum(1 for n in was.values() if n > 1)
