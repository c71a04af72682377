"""The stages of a write: read and decode → embed → write.

:mod:`ingest.job` joins them into a run:

- read/decode (:func:`decode_stream`): planned work → model-ready pixels, or the reason a file
  failed, decoded ahead in a pool of worker processes and yielded in plan order;
- read back (:func:`read_stored`): caption-only work → the stored image and look vectors,
  which are kept, so such work is never decoded;
- embed (:func:`embed_photos`, :func:`embed_captions`): a batch in → whole points out, one
  model call per tower per batch, each distinct caption of a run embedded once
  (:class:`CaptionVectors`);
- write (:class:`Writer`): one upsert of whole points (vectors and payload with the content
  hash) per batch, so a run killed at any moment leaves only complete points;
- payload rewrite (:func:`rewrite_payloads`): attributes of unchanged points re-made with
  this run's lexicon, vectors untouched.

Captions for photos without one are a stage of their own (:mod:`ingest.caption_stage`).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ingest.attributes import Annotator
from ingest.images import Preprocess, decode_for_model
from ingest.keywords import sparse_vector
from ingest.look import LOOK, look_vector
from ingest.plan import Work
from ingest.store import IMAGE, PointData, Store, point_id

if TYPE_CHECKING:
    from ingest.models.clip import ClipEncoder

T = TypeVar("T")

Decoded = tuple[Work, np.ndarray | str]
"""A work item with its ``(H, W, 3)`` uint8 pixels, or the reason its file failed to decode."""


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last one may be shorter).

    Args:
        items: Any iterable, consumed lazily.
        size: Items per list, at least 1.
    """
    batch: list[T] = []
    for x in items:
        batch.append(x)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def decode_stream(
    work: Sequence[Work], preprocess: Preprocess, workers: int, max_pixels: int, window: int
) -> Iterator[Decoded]:
    """The read/decode stage: each work item's pixels (or failure reason), in order.

    Args:
        work: The items to decode.
        preprocess: The model's resize and crop.
        workers: Decode processes; 1 or fewer decodes in this process.
        max_pixels: Decompression-bomb limit.
        window: How many items are decoded ahead of the consumer.
    """
    if workers <= 1 or not work:
        for w in work:
            yield w, decode_for_model(str(w.item.path), preprocess, max_pixels)
        return
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:

        def submit(w: Work) -> tuple[Work, cf.Future]:
            return w, pool.submit(decode_for_model, str(w.item.path), preprocess, max_pixels)

        it = iter(work)
        pending: deque[tuple[Work, cf.Future]] = deque()
        for w in it:
            pending.append(submit(w))
            if len(pending) >= window:
                break
        while pending:
            w, fut = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(submit(nxt))
            yield w, fut.result()


@dataclass
class Reused:
    """Caption-only work with the stored vectors it keeps."""

    work: Work
    image: np.ndarray
    look: np.ndarray | None


def read_stored(store: Store, work: Sequence[Work]) -> tuple[list[Reused], list[Work]]:
    """The read-back stage for caption-only work: the stored image (and look) vectors.

    Args:
        store: The open store.
        work: Caption-only work items.

    Returns:
        ``(reused, lost)``: the items whose stored image vector was read, in order, and those
        whose point has gone or lacks it (they must be embedded in full).
    """
    names = [IMAGE, LOOK] if store.has_look else [IMAGE]
    stored = {sp.id: sp for sp in store.get([point_id(w.item.rel) for w in work], names)}
    reused: list[Reused] = []
    lost: list[Work] = []
    for w in work:
        sp = stored.get(point_id(w.item.rel))
        if sp is None or IMAGE not in sp.vectors:
            lost.append(w)
            continue
        look = sp.vectors.get(LOOK)
        reused.append(
            Reused(
                w,
                np.asarray(sp.vectors[IMAGE], dtype=np.float32),
                None if look is None else np.asarray(look, dtype=np.float32),
            )
        )
    return reused, lost


def embed_photos(
    encoder: ClipEncoder, batch: Sequence[Decoded], now: str, annotator: Annotator | None = None
) -> list[PointData]:
    """The embed stage for decoded photos: whole points, one per input, in order.

    :func:`photo_vectors` then :func:`photo_points`.

    Args:
        encoder: The document encoder (photos and captions embedded in float).
        batch: Successfully decoded work items (pixels, not failure reasons).
        now: The ``ingested_at`` timestamp.
        annotator: Parses the captions' attributes (default: the general vocabulary).
    """
    if not batch:
        return []
    return photo_points(batch, *photo_vectors(encoder, batch), now, annotator)


def photo_vectors(
    encoder: ClipEncoder,
    batch: Sequence[Decoded],
    texts: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The model calls of :func:`embed_photos`: one per tower for the whole batch.

    Args:
        encoder: The document encoder.
        batch: Successfully decoded work items.
        texts: Embeds the captions (default ``encoder.encode_texts``; a run passes its
            :class:`CaptionVectors`).

    Returns:
        ``(images, captions)``: a vector per item, and one per captioned item, in order.
    """
    pixels = [a for _, a in batch]
    if any(isinstance(a, str) for a in pixels):
        raise ValueError("embed_photos: the batch holds a failed decode; drop it first")
    images = encoder.encode_pixels(np.stack(pixels))
    embed = texts or encoder.encode_texts
    return images, embed([w.item.caption for w, _ in batch if w.item.caption])


class CaptionVectors:
    """The caption vectors of one run, each distinct caption text embedded once.

    Catalogs repeat captions (the variants of one product): 21% of catalog-dev's captioned
    photos have the caption of a photo before them. A repeated text gets the vector its first
    embedding gave; the ``keep`` texts embedded last are remembered.

    Args:
        encoder: The document encoder.
        keep: Texts remembered at most (2 KiB each for 512-d vectors).
    """

    def __init__(self, encoder: ClipEncoder, keep: int = 10_000) -> None:
        self.encoder = encoder
        self.keep = keep
        self._known: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of ``texts``, in order (an ``encode_texts`` that skips repeats)."""
        known = self._known
        new = [t for t in dict.fromkeys(texts) if t not in known]
        if new:
            for t, v in zip(new, self.encoder.encode_texts(new), strict=True):
                known[t] = v.copy()  # not a view that keeps its whole batch alive
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        out = np.stack([known[t] for t in texts])
        while len(known) > self.keep:
            del known[next(iter(known))]
        return out


def photo_points(
    batch: Sequence[Decoded],
    image_vecs: np.ndarray,
    caption_vecs: np.ndarray,
    now: str,
    annotator: Annotator | None = None,
) -> list[PointData]:
    """The rest of :func:`embed_photos`: whole points from :func:`photo_vectors`' vectors (with
    each photo's look vector, its caption's keywords and attributes)."""
    annotator = annotator or Annotator()
    caps = iter(caption_vecs)
    return [
        _point(w, iv, next(caps) if w.item.caption else None, now, look_vector(a), annotator)
        for (w, a), iv in zip(batch, image_vecs, strict=True)
    ]


def embed_captions(
    encoder: ClipEncoder, batch: Sequence[Reused], now: str, annotator: Annotator | None = None
) -> list[PointData]:
    """The embed stage for caption-only changes: the new caption, the stored image vectors.

    Args:
        encoder: The document encoder.
        batch: Items with the vectors read back by :func:`read_stored`.
        now: The ``ingested_at`` timestamp.
        annotator: Parses the captions' attributes (default: the general vocabulary).
    """
    if not batch:
        return []
    annotator = annotator or Annotator()
    captions = [r.work.item.caption for r in batch if r.work.item.caption]
    cap_vecs = iter(encoder.encode_texts(captions))
    return [
        _point(
            r.work, r.image, next(cap_vecs) if r.work.item.caption else None, now, r.look, annotator
        )
        for r in batch
    ]


def rewrite_payloads(store: Store, work: Sequence[Work], annotator: Annotator) -> int:
    """The payload stage: attributes of unchanged points re-made, vectors untouched.

    A real caption's attributes are parsed again with ``annotator``'s lexicon; a generated
    caption's predicted attributes are kept (the captioner is not run again).

    Args:
        store: The open store.
        work: Unchanged items (:attr:`ingest.plan.Plan.payloads`).
        annotator: The lexicon of this run.

    Returns:
        How many points were rewritten.
    """
    stored = {sp.id: sp.payload for sp in store.get([point_id(w.item.rel) for w in work])}
    updates: list[tuple[str, dict]] = []
    for w in work:
        pid = point_id(w.item.rel)
        payload = stored.get(pid)
        if payload is None:
            continue
        if payload.get("caption_source") == "generated" or not w.item.caption:
            fields: dict = {"attributes_key": annotator.key}
        else:
            fields = annotator.of_caption(w.item.caption)
            fields["attributes"] = fields["attributes"] or None
        updates.append((pid, fields))
    store.update_payloads(updates)
    return len(updates)


class Writer:
    """The write stage: each batch of whole points in one upsert, then counted.

    Args:
        store: The open store.
        on_batch: Called with the number of points after each upsert.

    Attributes:
        added: Points written for files the store did not hold.
        updated: Points written over an older version.
    """

    def __init__(self, store: Store, on_batch: Callable[[int], None] | None = None) -> None:
        self.store = store
        self.on_batch = on_batch
        self.added = 0
        self.updated = 0

    def write(self, work: Sequence[Work], points: Sequence[PointData]) -> None:
        """Upsert ``points`` (one per item of ``work``, in order); an empty batch is a no-op."""
        if len(work) != len(points):
            raise ValueError(f"Writer.write: {len(work)} work items but {len(points)} points")
        if not points:
            return
        self.store.upsert(points)
        new = sum(w.is_new for w in work)
        self.added += new
        self.updated += len(work) - new
        if self.on_batch:
            self.on_batch(len(points))


def _point(
    w: Work,
    image_vec: np.ndarray,
    caption_vec: np.ndarray | None,
    now: str,
    look: np.ndarray | None,
    annotator: Annotator,
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
        **annotator.of_caption(caption),
    )
