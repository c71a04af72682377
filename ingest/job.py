"""The ingest job: plan by content hash, then decode → embed → write in batches.

:func:`run_ingest` (a whole catalog) and :func:`index_items` (a few uploaded photos) plan with
:func:`ingest.plan.plan` and run the stages of :mod:`ingest.stages`. Every point is written
whole (vectors and payload with its content hash) in one upsert, so a run killed at any moment
leaves only complete points; the next run's plan picks up the rest.

A catalog run learns the lexicon of its captions (:class:`ingest.attributes.Lexicon`) and keeps
it with the collection's metadata, so questions are parsed with the same lexicon; every point's
attributes are parsed with it, and points made with another lexicon or payload schema get their
payload rewritten. With a captioner, photos without a real caption get a generated one
(:mod:`ingest.caption_stage`). Uploads parse with the stored lexicon.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ingest.attributes import Annotator, Lexicon
from ingest.attributes.stored import LEXICON, stored_lexicon
from ingest.catalog import Catalog, CatalogItem
from ingest.images import DEFAULT_MAX_PIXELS
from ingest.plan import Plan, Work, plan
from ingest.shards import Shard
from ingest.stages import (
    CaptionVectors,
    Writer,
    batches,
    decode_stream,
    embed_captions,
    photo_points,
    photo_vectors,
    read_stored,
    rewrite_payloads,
)
from ingest.store import Store, point_id
from ingest.variants import refresh_groups, touched_keys

if TYPE_CHECKING:
    from ingest.captioning import Captioner
    from ingest.models.clip import ClipEncoder

#: The collection metadata key of the catalog's lexicon.

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
        generated: Photos without a real caption that got a generated caption.
        upgraded: Unchanged points whose payload (attributes) was rewritten.
        embedded: Photos run through the image model.
        captioned: Photos the captioner looked at.
        caption_seconds: Wall time of the captioning stage.
        seconds: Wall time of the run.
        variant_groups: Variant groups stored again after the run changed the catalog, when
            the collection keeps them (:mod:`ingest.variants`); ``None``: not refreshed.
    """

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    generated: int = 0
    upgraded: int = 0
    embedded: int = 0
    captioned: int = 0
    caption_seconds: float = 0.0
    seconds: float = 0.0
    variant_groups: int | None = None

    def to_json(self) -> dict:
        """The ``--report`` file's content (``variant_groups`` only when they were stored again)."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": list(self.failed),
            "generated": self.generated,
            "upgraded": self.upgraded,
        } | ({"variant_groups": self.variant_groups} if self.variant_groups is not None else {})

    def summary(self) -> str:
        """The lines ``tuwen ingest`` prints."""
        rate = self.embedded / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"removed {self.removed}, failed {len(self.failed)}, generated {self.generated}, "
            f"upgraded {self.upgraded}",
            f"embedded {self.embedded} images in {self.seconds:.1f}s ({rate:.1f} images/s)",
        ]
        if self.captioned:
            speed = self.captioned / self.caption_seconds if self.caption_seconds > 0 else 0.0
            lines.append(
                f"captioned {self.captioned} images in {self.caption_seconds:.1f}s "
                f"({speed:.1f} images/s), generated {self.generated} captions"
            )
        if self.variant_groups is not None:
            lines.append(f"variant groups stored again: {self.variant_groups}")
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
    captioner: Captioner | None = None,
    shard: Shard | None = None,
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
        captioner: Caption the photos without a real caption that it has not looked at yet
            (``tuwen ingest --caption-uncaptioned``); ``None``: no captioning (generated
            captions already stored are kept).
        shard: Index only this share of the catalog (``--shard I/N``) and prune only this
            share's points; the lexicon is still learned from the whole catalog, so every
            share parses captions alike.

    Returns:
        What the run did.
    """
    t0 = time.perf_counter()
    store.ensure(encoder.fingerprint)
    lexicon = Lexicon.learn(i.caption for i in catalog.items if i.caption)
    store.set_metadata_value(LEXICON, lexicon.to_dict())  # before points are parsed with it
    annotator = Annotator(lexicon)
    items, stored = catalog.items, store.manifest()
    if shard is not None:
        items, stored = shard.items(items), shard.stored(stored)
    p = plan(
        items,
        stored,
        attributes_key=annotator.key,
        captioner=captioner.name if captioner is not None else None,
    )
    if p.work:
        _load_soon(encoder)  # the weights load while the indexes are made and decoding starts
    store.ensure_indexes()
    report = IngestReport(unchanged=p.unchanged, failed=list(p.unreadable))
    rewritten = [point_id(w.item.rel) for w in p.work]
    # A rewrite or a removal takes a point's variant key with it: read them first.
    kept = [i for w, i in zip(p.work, rewritten, strict=True) if not w.is_new]
    before = touched_keys(store, kept + (p.stale if prune else []))
    if prune and p.stale:
        store.delete(p.stale)
        report.removed = len(p.stale)
    workers = workers or min(8, os.cpu_count() or 1)
    run = _Run(store, encoder, annotator, batch_size, max_pixels, progress)
    _execute(p, report, run, workers, on_batch, captioner)
    if report.added or report.updated or report.removed or report.captioned:
        # Qdrant Edge builds its HNSW index only when asked; small collections return at once.
        t1 = time.perf_counter()
        if store.optimize():
            log.info("built the search index in %.1fs", time.perf_counter() - t1)
    if report.added or report.updated or report.removed:
        # When the collection keeps them: the groups this run touched, worked out again.
        report.variant_groups = refresh_groups(store, rewritten, before)
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
    store.ensure_indexes()
    annotator = Annotator(stored_lexicon(store))
    p = plan(items, store.entries([point_id(i.rel) for i in items]), attributes_key=annotator.key)
    report = IngestReport(unchanged=p.unchanged, failed=list(p.unreadable))
    run = _Run(store, encoder, annotator, batch_size, max_pixels, False)
    _execute(p, report, run, 1, None, None)
    report.seconds = time.perf_counter() - t0
    return report


def _load_soon(encoder: ClipEncoder) -> None:
    """Start loading an encoder that loads on first use
    (:class:`ingest.models.lazy.LazyClipEncoder`) now, in the background; a loaded encoder is
    left as it is."""
    start = getattr(type(encoder), "load_soon", None)
    if start is not None:
        start(encoder)


@dataclass
class _Run:
    """What every stage of one run shares."""

    store: Store
    encoder: ClipEncoder
    annotator: Annotator
    batch_size: int
    max_pixels: int
    progress: bool
    now: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )


def _execute(
    p: Plan,
    report: IngestReport,
    run: _Run,
    workers: int,
    on_batch: Callable[[int], None] | None,
    captioner: Captioner | None,
) -> None:
    """Run the plan through the stages, counting into ``report``."""
    from tqdm import tqdm

    store, encoder, annotator, size = run.store, run.encoder, run.annotator, run.batch_size
    writer = Writer(store, on_batch)
    # Caption-only changes keep the stored image vectors: no decode, no image model call.
    lost: set[int] = set()
    for batch in batches([w for w in p.work if w.caption_only], size):
        reused, gone = read_stored(store, batch)
        lost.update(id(w) for w in gone)
        writer.write([r.work for r in reused], embed_captions(encoder, reused, run.now, annotator))
    full = [w for w in p.work if not w.caption_only or id(w) in lost]
    failed: set[int] = set()
    bar = tqdm(total=len(full), unit="img", desc="embedding", disable=not run.progress or not full)
    try:
        stream = decode_stream(full, encoder.preprocess, workers, run.max_pixels, 4 * size)
        captions = CaptionVectors(encoder)
        for batch in batches(stream, size):
            ok = [(w, a) for w, a in batch if not isinstance(a, str)]
            report.failed += [
                {"file": w.item.rel, "reason": a} for w, a in batch if isinstance(a, str)
            ]
            failed.update(id(w) for w, a in batch if isinstance(a, str))
            points = (
                photo_points(ok, *photo_vectors(encoder, ok, captions), run.now, annotator)
                if ok
                else []
            )
            writer.write([w for w, _ in ok], points)
            report.embedded += len(ok)
            bar.update(len(batch))
    finally:
        bar.close()
    report.added += writer.added
    report.updated += writer.updated
    for batch in batches(p.payloads, 256):
        report.upgraded += rewrite_payloads(store, batch, annotator)
    if captioner is not None:
        fresh = [w for w in p.work if not w.item.caption and id(w) not in failed]
        _caption(report, run, captioner, [*fresh, *p.caption])
    report.failed.sort(key=lambda f: f["file"])


def _caption(report: IngestReport, run: _Run, captioner: Captioner, work: list[Work]) -> None:
    """The captioning stage over ``work``, counted into ``report``."""
    from ingest.caption_stage import caption_photos

    done = caption_photos(
        run.store,
        run.encoder,
        captioner,
        work,
        run.annotator,
        now=run.now,
        batch_size=run.batch_size,
        max_pixels=run.max_pixels,
        progress=run.progress,
    )
    report.captioned += done.looked
    report.generated += done.generated
    report.caption_seconds += done.seconds
    report.failed += done.failed
