"""The ingest job: plan by content hash, decode in parallel with the model, upsert in batches.

Every point is written whole (vectors and payload with its content hash) in one upsert, so a
run killed at any moment leaves only complete points; the next run's plan picks up the rest.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from ingest.catalog import Catalog, CatalogItem
from ingest.encoders import ClipEncoder
from ingest.images import DEFAULT_MAX_PIXELS, Preprocess, decode_for_model
from ingest.keywords import sparse_vector
from ingest.look import LOOK, look_vector
from ingest.store import IMAGE, PointData, Store, StoredEntry, point_id

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What a run did. ``to_json`` has exactly the keys of the ``--report`` file."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    embedded: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": list(self.failed),
        }

    def summary(self) -> str:
        rate = self.embedded / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"removed {self.removed}, failed {len(self.failed)}",
            f"embedded {self.embedded} images in {self.seconds:.1f}s ({rate:.1f} images/s)",
        ]
        lines += [f"  failed: {f['file']}: {f['reason']}" for f in self.failed]
        return "\n".join(lines)


@dataclass
class Work:
    """One catalog item the plan says must be written."""

    item: CatalogItem
    hash: str
    image_hash: str
    is_new: bool
    caption_only: bool = False


@dataclass
class Plan:
    work: list[Work]
    unchanged: int
    stale: list[str]  # point ids whose file is gone
    unreadable: list[dict[str, str]]


def content_hashes(data: bytes, caption: str | None) -> tuple[str, str]:
    """(hash of bytes + caption, hash of bytes)."""
    image_hash = hashlib.sha256(data).hexdigest()
    h = hashlib.sha256(image_hash.encode() + b"\0" + (caption or "").encode("utf-8"))
    return h.hexdigest(), image_hash


def plan(items: Iterable[CatalogItem], stored: dict[str, StoredEntry]) -> Plan:
    """Compare content hashes with the stored ones: only new or changed items are work.

    Args:
        items: The catalog's photos.
        stored: What the store holds (``Store.manifest()`` or ``Store.entries(ids)``); stored
            points not among ``items`` are reported as stale.
    """
    work: list[Work] = []
    unchanged = 0
    unreadable = []
    present = set()
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
            continue
        caption_only = old is not None and old.image_hash == ih
        work.append(Work(item, h, ih, is_new=old is None, caption_only=caption_only))
    stale = [pid for pid in stored if pid not in present]
    return Plan(work, unchanged, stale, unreadable)


def decode_stream(
    work: list[Work], preprocess: Preprocess, workers: int, max_pixels: int, window: int
) -> Iterator[tuple[Work, np.ndarray | str]]:
    """Decoded arrays (or failure reasons) in order, decoded ahead in worker processes."""
    if workers <= 1:
        for w in work:
            yield w, decode_for_model(str(w.item.path), preprocess, max_pixels)
        return
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: deque = deque()
        it = iter(work)
        for w in it:
            pending.append(
                (w, pool.submit(decode_for_model, str(w.item.path), preprocess, max_pixels))
            )
            if len(pending) >= window:
                break
        while pending:
            w, fut = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(
                    (nxt, pool.submit(decode_for_model, str(nxt.item.path), preprocess, max_pixels))
                )
            yield w, fut.result()


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for x in items:
        batch.append(x)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_ingest(
    catalog: Catalog,
    store: Store,
    encoder: ClipEncoder,
    *,
    prune: bool = False,
    batch_size: int = 32,
    workers: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> IngestReport:
    """Bring the collection in line with the catalog.

    Args:
        catalog: The joined photos and captions.
        store: An open store; the collection is created for this encoder if absent.
        encoder: The CLIP model.
        prune: Remove points whose file is no longer in the catalog.
        batch_size: Images per model call and per upsert.
        workers: Decode processes; 0 = one per CPU core.
        max_pixels: Decompression-bomb limit.
        progress: Show a progress bar on stderr.
        on_batch: Called with the number of points written after each upsert.
    """
    t0 = time.perf_counter()
    store.ensure(encoder.fingerprint)
    p = plan(catalog.items, store.manifest())
    report = IngestReport(unchanged=p.unchanged, failed=list(p.unreadable))
    if prune and p.stale:
        store.delete(p.stale)
        report.removed = len(p.stale)
    _execute(p, report, store, encoder, batch_size, workers, max_pixels, progress, on_batch)
    if report.added or report.updated or report.removed:
        # Qdrant Edge builds its HNSW index only when asked; small collections return at once.
        t1 = time.perf_counter()
        if store.optimize():
            log.info("built the search index in %.1fs", time.perf_counter() - t1)
    report.seconds = time.perf_counter() - t0
    return report


def index_items(
    items: list[CatalogItem],
    store: Store,
    encoder: ClipEncoder,
    *,
    batch_size: int = 32,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> IngestReport:
    """Index a few photos already on disk (e.g. uploads) with the same planning as a run:
    unchanged ones are skipped, a caption change re-embeds only the caption. Nothing is pruned.
    """
    t0 = time.perf_counter()
    store.ensure(encoder.fingerprint)
    p = plan(items, store.entries([point_id(i.rel) for i in items]))
    report = IngestReport(unchanged=p.unchanged, failed=list(p.unreadable))
    _execute(p, report, store, encoder, batch_size, 1, max_pixels, False, None)
    report.seconds = time.perf_counter() - t0
    return report


def _execute(
    p: Plan,
    report: IngestReport,
    store: Store,
    encoder: ClipEncoder,
    batch_size: int,
    workers: int,
    max_pixels: int,
    progress: bool,
    on_batch: Callable[[int], None] | None,
) -> None:
    from tqdm import tqdm

    def count(w: Work) -> None:
        if w.is_new:
            report.added += 1
        else:
            report.updated += 1

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    # Caption-only changes reuse the stored image vectors: no decode, no image model call.
    caption_only = [w for w in p.work if w.caption_only]
    for batch in _batches(caption_only, batch_size):
        ids = [point_id(w.item.rel) for w in batch]
        stored = {sp.id: sp for sp in store.get(ids, [IMAGE, LOOK] if store.has_look else [IMAGE])}
        texts = [w.item.caption or "" for w in batch]
        cap_vecs = encoder.encode_texts([t for t in texts if t])
        points, j = [], 0
        for w in batch:
            sp = stored.get(point_id(w.item.rel))
            if sp is None or IMAGE not in sp.vectors:
                w.caption_only = False  # fall back to a full re-embed
                continue
            vec = None
            if w.item.caption:
                vec, j = cap_vecs[j], j + 1
            image = np.asarray(sp.vectors[IMAGE], dtype=np.float32)
            look = sp.vectors.get(LOOK)
            look = np.asarray(look, dtype=np.float32) if look is not None else None
            points.append(_point(w, image, vec, now, look))
            count(w)
        store.upsert(points)
        if on_batch:
            on_batch(len(points))
    full = [w for w in p.work if not w.caption_only]
    if not full:
        report.failed.sort(key=lambda f: f["file"])
        return
    n_workers = workers or min(8, os.cpu_count() or 1)
    bar = tqdm(total=len(full), unit="img", desc="embedding", disable=not progress or not full)
    try:
        stream = decode_stream(
            full, encoder.preprocess, n_workers, max_pixels, window=4 * batch_size
        )
        for batch in _batches(stream, batch_size):
            ok = [(w, a) for w, a in batch if not isinstance(a, str)]
            for w, a in batch:
                if isinstance(a, str):
                    report.failed.append({"file": w.item.rel, "reason": a})
            if ok:
                img_vecs = encoder.encode_pixels(np.stack([a for _, a in ok]))
                captioned = [w.item.caption for w, _ in ok if w.item.caption]
                cap_vecs = encoder.encode_texts(captioned)
                points, j = [], 0
                for (w, a), iv in zip(ok, img_vecs, strict=True):
                    cv = None
                    if w.item.caption:
                        cv, j = cap_vecs[j], j + 1
                    points.append(_point(w, iv, cv, now, look_vector(a)))
                    count(w)
                store.upsert(points)
                report.embedded += len(points)
                if on_batch:
                    on_batch(len(points))
            bar.update(len(batch))
    finally:
        bar.close()
    report.failed.sort(key=lambda f: f["file"])


def _point(
    w: Work,
    image_vec: np.ndarray,
    caption_vec: np.ndarray | None,
    now: str,
    look: np.ndarray | None = None,
) -> PointData:
    caption = w.item.caption
    return PointData(
        file=w.item.rel,
        caption=caption,
        image=image_vec,
        caption_vector=caption_vec,
        keywords=sparse_vector(caption) if caption else None,
        hash=w.hash,
        image_hash=w.image_hash,
        ingested_at=now,
        look=look,
    )
