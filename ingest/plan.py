"""Change planning by content hash: which catalog items must be written, which are stale.

One planner serves every write path: a local ``tuwen ingest`` (against the store's manifest),
HTTP uploads (against the uploaded ids' stored entries) and ``tuwen ingest --via`` (against the
server's manifest). An item is work when its content hash (photo bytes + caption) differs from
the stored one; when only the caption changed, the stored image vectors can be reused. An
unchanged item whose stored attributes were made with another payload schema or lexicon gets
its payload rewritten (nothing re-embedded), and with a captioner, an unchanged photo without a
real caption that this captioner has not looked at yet is captioned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ingest.catalog import CatalogItem
from ingest.store import StoredEntry, point_id


@dataclass
class Work:
    """One catalog item the plan says must be written.

    Attributes:
        item: The photo and its caption.
        hash: Content hash of the photo bytes and caption (stored in the point's payload).
        image_hash: Content hash of the photo bytes alone.
        is_new: No point exists for this file yet.
        caption_only: The stored photo is the same; only the caption changed.
    """

    item: CatalogItem
    hash: str
    image_hash: str
    is_new: bool
    caption_only: bool = False


@dataclass
class Plan:
    """What a write must do to bring the stored points in line with the items.

    Attributes:
        work: New or changed items, in catalog order.
        unchanged: How many items already match their stored point (photo and caption).
        stale: Point ids that are stored but not among the items.
        unreadable: ``{"file", "reason"}`` for every item whose file could not be read.
        payloads: Unchanged items whose payload must be rewritten (attributes made with
            another payload schema or lexicon).
        caption: Unchanged items without a real caption that the captioner has not looked
            at (new and changed ones without a caption are captioned after they are written).
    """

    work: list[Work]
    unchanged: int
    stale: list[str]
    unreadable: list[dict[str, str]]
    payloads: list[Work] = field(default_factory=list)
    caption: list[Work] = field(default_factory=list)


def content_hashes(data: bytes, caption: str | None) -> tuple[str, str]:
    """The content hashes of a photo and its caption.

    Args:
        data: The photo file's bytes.
        caption: Its caption, or None.

    Returns:
        ``(hash of bytes + caption, hash of bytes)``, both hex SHA-256.
    """
    image_hash = hashlib.sha256(data).hexdigest()
    h = hashlib.sha256(image_hash.encode() + b"\0" + (caption or "").encode("utf-8"))
    return h.hexdigest(), image_hash


def entries_from_hashes(files: Mapping[str, str]) -> dict[str, StoredEntry]:
    """Stored entries from a ``{file: hash}`` manifest (as ``GET /v1/manifest`` answers).

    Such a manifest has no image hashes, so no item planned against it is caption-only.

    Args:
        files: Relative file name → content hash of every stored point.

    Returns:
        Point id → :class:`StoredEntry`, as :func:`plan` takes.
    """
    return {point_id(f): StoredEntry(f, h, "") for f, h in files.items()}


def plan(
    items: Iterable[CatalogItem],
    stored: Mapping[str, StoredEntry],
    *,
    attributes_key: str | None = None,
    captioner: str | None = None,
) -> Plan:
    """Compare content hashes with the stored ones: only new or changed items are work.

    Every item's file is read once to hash it; a file that cannot be read is reported in
    :attr:`Plan.unreadable` and planned no further.

    Args:
        items: The catalog's photos.
        stored: Point id → stored entry (``Store.manifest()``, ``Store.entries(ids)`` or
            :func:`entries_from_hashes`); stored points not among ``items`` are stale.
        attributes_key: The attributes key points should have
            (:func:`ingest.attributes.attributes_key`); ``None``: payloads are not planned.
        captioner: The name of the captioner of this run; ``None``: nothing is captioned.

    Returns:
        The plan.
    """
    work: list[Work] = []
    payloads: list[Work] = []
    caption: list[Work] = []
    unchanged = 0
    unreadable: list[dict[str, str]] = []
    present: set[str] = set()
    for item in items:
        pid = point_id(item.rel)
        present.add(pid)
        try:
            data = item.path.read_bytes()
        except OSError as e:
            unreadable.append({"file": item.rel, "reason": f"cannot read file: {e.strerror or e}"})
            continue
        h, ih = content_hashes(data, item.caption)
        old = stored.get(pid)
        if old is not None and old.hash == h:
            unchanged += 1
            same = Work(item, h, ih, is_new=False)
            if captioner is not None and not item.caption and old.captioner != captioner:
                caption.append(same)  # rewritten whole, payload included
            elif attributes_key is not None and old.attributes_key != attributes_key:
                payloads.append(same)
            continue
        caption_only = old is not None and old.image_hash == ih
        work.append(Work(item, h, ih, is_new=old is None, caption_only=caption_only))
    stale = [pid for pid in stored if pid not in present]
    return Plan(work, unchanged, stale, unreadable, payloads, caption)
