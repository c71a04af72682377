"""Image neighbours: the CLIP image vector fused with the look vector."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest

from ingest.look import DIM as LOOK_DIM
from ingest.models.fingerprint import Fingerprint
from ingest.store import EdgeStore, PointData
from service.answering.retrieve import QueryImage, Retriever

FP = Fingerprint("fake", "r", 4)


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def hot(i: int) -> np.ndarray:
    v = np.full(LOOK_DIM, 0.05, dtype=np.float32)
    v[i] = 1.0
    return unit(v)


def point(file: str, image, look, caption: str | None = "caption") -> PointData:
    return PointData(
        file=file,
        caption=caption,
        image=unit(image),
        caption_vector=unit(image) if caption else None,
        keywords=None,
        hash="h" + file,
        image_hash="i" + file,
        ingested_at="2026-01-01T00:00:00+00:00",
        look=look,
    )


@pytest.fixture
def store(tmp_path):
    # Against the query (image (1, 0, 0, 0), look hot(0)), by the CLIP vector: clip, shape,
    # mid, far; by the look: shape, mid, far, clip. Fused (RRF), shape leads.
    with EdgeStore(tmp_path / "d") as s:
        s.ensure(FP)
        s.upsert(
            [
                point("clip.jpg", (1, 0.05, 0, 0), hot(9)),
                point("shape.jpg", (1, 0.15, 0, 0), hot(0)),
                point("mid.jpg", (1, 0.25, 0, 0), unit(hot(0) + hot(9) * 1.5)),
                point("far.jpg", (1, 0.4, 0, 0), unit(hot(0) + hot(9) * 3)),
                point("query.jpg", (1, 0, 0, 0), hot(0), caption=None),
            ]
        )
        yield s


def retriever(store, look: bool) -> Retriever:
    return Retriever(store, SimpleNamespace(fingerprint=FP), look=look)


def test_look_vector_reorders_the_clip_neighbours(store):
    fused = retriever(store, look=True)
    q = fused.resolve_image("query.jpg")
    assert q.look is not None and np.argmax(q.look) == 0  # the stored look, not recomputed
    assert [h.file for h in fused.neighbours(q, 3)][0] == "shape.jpg"
    clip_only = retriever(store, look=False)
    q2 = clip_only.resolve_image("query.jpg")
    assert [h.file for h in clip_only.neighbours(q2, 3)] == ["clip.jpg", "shape.jpg", "mid.jpg"]


def test_an_image_without_a_look_uses_the_clip_vector_alone(store):
    r = retriever(store, look=True)
    hits = r.neighbours(QueryImage(unit((1, 0, 0, 0))), 3)
    assert [h.file for h in hits] == ["clip.jpg", "shape.jpg", "mid.jpg"]
    assert all(h.file != "query.jpg" for h in hits)  # uncaptioned: never a neighbour


#: Every text encodes to (1, 0, 0, 0): the fused legs rank by the photos' vectors alone.
TEXT_ENCODER = SimpleNamespace(
    fingerprint=FP, encode_texts=lambda texts: np.stack([unit((1, 0, 0, 0))] * len(texts))
)


@contextmanager
def text_store(tmp_path) -> Iterator[EdgeStore]:
    with EdgeStore(tmp_path / "d") as s:
        s.ensure(FP)
        yield s


def test_product_search_leads_with_the_exact_caption(tmp_path):
    title = "Zephyr Loom 女士青绿色亚麻度假长裙"
    with text_store(tmp_path) as s:
        s.upsert(
            [
                point("near.jpg", (1, 0.02, 0, 0), hot(1), caption="女士手提包 绿色"),
                point("close.jpg", (1, 0.1, 0, 0), hot(2), caption="女士长裙 蓝色"),
                point("exact.jpg", (0, 0, 1, 0.2), hot(3), caption=title),
            ]
        )
        r = Retriever(s, TEXT_ENCODER)
        assert r.search(title, 3)[0].file == "near.jpg"  # the fused legs alone
        hits = r.search(f" {title} ", 3, exact_first=True)
        assert [h.file for h in hits][0] == "exact.jpg" and hits[0].score == 1.0
        assert sorted(h.file for h in hits) == ["close.jpg", "exact.jpg", "near.jpg"]  # once each
        assert [h.file for h in r.search("女士", 2, exact_first=True)] == [
            h.file for h in r.search("女士", 2)
        ]  # no exact match: the hybrid ranking as it is


def test_a_title_quoting_a_caption_whole_leads_with_that_product(tmp_path):
    caption = "Zephyr Loom 女士青绿色亚麻度假长裙"
    with text_store(tmp_path) as s:
        s.upsert(
            [
                point("near.jpg", (1, 0.02, 0, 0), hot(1), caption="女士亚麻长裙 青绿色"),
                point("short.jpg", (1, 0.05, 0, 0), hot(2), caption="度假长裙"),
                point("quoted.jpg", (1, 0.1, 0, 0), hot(3), caption=caption),
                point("photo.jpg", (1, 0.01, 0, 0), hot(4), caption=None),
            ]
        )
        r = Retriever(s, TEXT_ENCODER, agreement=False)
        # another shop's marketing words around the caption, spaced otherwise
        title = "【官方直营】zephyr loom女士青绿色亚麻度假长裙 爆款推荐"
        assert r.search(title, 4)[0].file != "quoted.jpg"  # the fused legs alone
        assert r.search(title, 4, exact_first=True)[0].file == "quoted.jpg"
        # a short caption inside a long title is not the product the title names
        assert r.search("夏季新款女士宽松棉麻度假长裙", 4, exact_first=True) == r.search(
            "夏季新款女士宽松棉麻度假长裙", 4
        )


def test_search_options_that_contradict_each_other_are_refused(store):
    r = retriever(store, look=False)
    with pytest.raises(ValueError, match="exact_first=True and captioned_only=False"):
        r.search("衬衫", 3, exact_first=True, lookalikes=2, captioned_only=True)
    with pytest.raises(ValueError, match="exact_first=True"):
        r.search("衬衫", 3, lookalikes=2)
