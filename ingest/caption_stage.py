"""The captioning stage: captions proposed for photos that have no real one.

The ingest job runs it after the embed stages, over the photos without a real caption that the
run's captioner has not looked at (:attr:`ingest.plan.Plan.caption`, and the new or changed
photos just written). Each batch: the stored image vectors are read back (never re-embedded),
the photos are decoded at their own size, the captioner proposes a caption and attributes
(:mod:`ingest.captioning`), the generated captions are embedded, and each point is written
whole again with ``caption_source="generated"``, the captioner's name and the predicted
attributes. The content hash stays that of the photo and its (absent) real caption, so a real
caption added later is a change the planner sees, and replaces the generated one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ingest.attributes import Annotator
from ingest.captioning import Captioner
from ingest.images import ImageError, load_image
from ingest.keywords import sparse_vector
from ingest.look import LOOK
from ingest.plan import Work
from ingest.stages import batches
from ingest.store import IMAGE, PointData, Store, point_id

if TYPE_CHECKING:
    from ingest.models.clip import ClipEncoder


@dataclass
class Captioned:
    """What the stage did.

    Attributes:
        looked: Photos the captioner looked at (and whose points were rewritten).
        generated: Of those, photos it wrote a caption for.
        seconds: Wall time of the stage.
        failed: ``{"file", "reason"}`` for photos that could not be decoded.
    """

    looked: int = 0
    generated: int = 0
    seconds: float = 0.0
    failed: list[dict[str, str]] = field(default_factory=list)


def caption_photos(
    store: Store,
    encoder: ClipEncoder,
    captioner: Captioner,
    work: Sequence[Work],
    annotator: Annotator,
    *,
    now: str,
    batch_size: int = 32,
    max_pixels: int | None = None,
    progress: bool = True,
) -> Captioned:
    """Caption the photos of ``work`` (items without a real caption whose points are stored).

    Args:
        store: The open store holding the points.
        encoder: The document encoder (generated captions are embedded with it).
        captioner: Proposes captions and attributes.
        work: The photos to caption; items with a real caption are skipped.
        annotator: Reads the predicted attributes with the catalog's lexicon.
        now: The ``ingested_at`` timestamp.
        batch_size: Photos per captioner call and per upsert.
        max_pixels: Decompression-bomb limit (default: Pillow's).
        progress: Show a progress bar (photos/s) on stderr.

    Returns:
        The counts.

    Raises:
        ValueError: The captioner returned a different number of proposals than photos.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    done = Captioned()
    todo = [w for w in work if not w.item.caption]
    names = [IMAGE, LOOK] if store.has_look else [IMAGE]
    bar = tqdm(total=len(todo), unit="img", desc="captioning", disable=not progress or not todo)
    try:
        for batch in batches(todo, batch_size):
            stored = {sp.id: sp for sp in store.get([point_id(w.item.rel) for w in batch], names)}
            ready: list[tuple[Work, np.ndarray, np.ndarray | None]] = []
            images = []
            for w in batch:
                sp = stored.get(point_id(w.item.rel))
                if sp is None or IMAGE not in sp.vectors:
                    continue  # not written (its photo failed): nothing to caption
                try:
                    kw = {} if max_pixels is None else {"max_pixels": max_pixels}
                    images.append(load_image(w.item.path, **kw))
                except (ImageError, OSError) as e:
                    done.failed.append({"file": w.item.rel, "reason": str(e)})
                    continue
                look = sp.vectors.get(LOOK)
                ready.append(
                    (
                        w,
                        np.asarray(sp.vectors[IMAGE], dtype=np.float32),
                        None if look is None else np.asarray(look, dtype=np.float32),
                    )
                )
            if ready:
                points = _generate(encoder, captioner, ready, images, annotator, now)
                store.upsert(points)
                done.looked += len(points)
                done.generated += sum(p.caption is not None for p in points)
            bar.update(len(batch))
    finally:
        bar.close()
    done.seconds = time.perf_counter() - t0
    return done


def _generate(
    encoder: ClipEncoder,
    captioner: Captioner,
    ready: list[tuple[Work, np.ndarray, np.ndarray | None]],
    images: list,
    annotator: Annotator,
    now: str,
) -> list[PointData]:
    """One captioner call and one text-encoder call for a batch: whole points."""
    proposals = captioner.caption(images, np.stack([vec for _, vec, _ in ready]))
    if len(proposals) != len(ready):
        raise ValueError(
            f"captioner {captioner.name!r} returned {len(proposals)} proposals for "
            f"{len(ready)} photos"
        )
    captions = [(g.caption or "").strip() or None for g in proposals]
    vectors = iter(encoder.encode_texts([c for c in captions if c]) if any(captions) else [])
    points = []
    for (w, image, look), g, caption in zip(ready, proposals, captions, strict=True):
        points.append(
            PointData(
                file=w.item.rel,
                caption=caption,
                image=image,
                caption_vector=next(vectors) if caption else None,
                keywords=sparse_vector(caption) if caption else None,
                hash=w.hash,
                image_hash=w.image_hash,
                ingested_at=now,
                look=look,
                **annotator.of_generated(caption, g.attributes, captioner.name, g.likely),
            )
        )
    return points
