"""The ingest job: plan by content hash, then decode → embed → write in batches.

:func:`run_ingest` (a whole catalog) and :func:`index_items` (a few uploaded photos) plan with
:func:`ingest.plan.plan` and run the stages of :mod:`ingest.stages`. Every point is written
whole (vectors and payload with its content hash) in one upsert, so a run killed at any moment
leaves only complete points; the next run's plan picks up the rest.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ingest.catalog import Catalog, CatalogItem
from ingest.images import DEFAULT_MAX_PIXELS
from ingest.plan import Plan, plan
from ingest.stages import (
    Writer,
    batches,
    decode_stream,
    embed_captions,
    embed_photos,
    read_stored,
)
from ingest.store import Store, point_id

if TYPE_CHECKING:
    from ingest.models.clip import ClipEncoder

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What a run did. ``to_json`` has exactly the keys of the ``--report`` file.

    Attributes:
        added: Points written for new files.
        updated: Points rewritten for changed files.
        unchanged: Files whose stored point already matched.
        removed: Points deleted because their file left the catalog.
        failed: ``{"file", "reason"}`` for every file that could not be read or decoded.
        embedded: Photos run through the image model.
        seconds: Wall time of the run.
    """

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    embedded: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        """The ``--report`` file's content."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": list(self.failed),
        }

    def summary(self) -> str:
        """The lines ``tuwen ingest`` prints."""
        rate = self.embedded / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"removed {self.removed}, failed {len(self.failed)}",
            f"embedded {self.embedded} images in {self.seconds:.1f}s ({rate:.1f} images/s)",
        ]
        lines += [f"  failed: {f['file']}: {f['reason']}" for f in self.failed]
        return "\n".join(lines)


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
        encoder: The document encoder (the CLIP model, float).
        prune: Remove points whose file is no longer in the catalog.
        batch_size: Images per model call and per upsert.
        workers: Decode processes; 0 = one per CPU core (at most 8).
        max_pixels: Decompression-bomb limit.
        progress: Show a progress bar on stderr.
        on_batch: Called with the number of points written after each upsert.

    Returns:
        What the run did.
    """
    t0 = time.perf_counter()
    store.ensure(encoder.fingerprint)
    p = plan(catalog.items, store.manifest())
    report = IngestReport(unchanged=p.unchanged, failed=list(p.unreadable))
    if prune and p.stale:
        store.delete(p.stale)
        report.removed = len(p.stale)
    workers = workers or min(8, os.cpu_count() or 1)
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
    """Index a few photos already on disk (e.g. uploads) with the same planning as a run.

    Unchanged photos are skipped, a caption change re-embeds only the caption. Nothing is
    pruned, and photos are decoded in this process.

    Args:
        items: The photos and their captions.
        store: An open store; the collection is created for this encoder if absent.
        encoder: The document encoder (the CLIP model, float).
        batch_size: Images per model call and per upsert.
        max_pixels: Decompression-bomb limit.

    Returns:
        What was written.
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
    """Run the plan's work through the stages, counting into ``report``."""
    from tqdm import tqdm

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    writer = Writer(store, on_batch)
    # Caption-only changes keep the stored image vectors: no decode, no image model call.
    lost: set[int] = set()
    for batch in batches([w for w in p.work if w.caption_only], batch_size):
        reused, gone = read_stored(store, batch)
        lost.update(id(w) for w in gone)
        writer.write([r.work for r in reused], embed_captions(encoder, reused, now))
    full = [w for w in p.work if not w.caption_only or id(w) in lost]
    bar = tqdm(total=len(full), unit="img", desc="embedding", disable=not progress or not full)
    try:
        stream = decode_stream(full, encoder.preprocess, workers, max_pixels, 4 * batch_size)
        for batch in batches(stream, batch_size):
            ok = [(w, a) for w, a in batch if not isinstance(a, str)]
            report.failed += [
                {"file": w.item.rel, "reason": a} for w, a in batch if isinstance(a, str)
            ]
            writer.write([w for w, _ in ok], embed_photos(encoder, ok, now))
            report.embedded += len(ok)
            bar.update(len(batch))
    finally:
        bar.close()
    report.added += writer.added
    report.updated += writer.updated
    report.failed.sort(key=lambda f: f["file"])
