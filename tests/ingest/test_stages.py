"""The pieces of a run's embed/write stages: caption vectors once per text, the background
write stage, the uint8 normalisation table, the model loading while a run plans."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.images import Preprocess
from ingest.models.lazy import LazyClipEncoder
from ingest.stages import CaptionVectors

TEXTS = ["男士黑色衬衫", "女士红色连衣裙", "男士黑色衬衫", "儿童运动鞋"]


class CountingEncoder:
    """Wraps an encoder, recording the texts each ``encode_texts`` call was given."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.dim = encoder.dim
        self.calls: list[list[str]] = []

    def encode_texts(self, texts):
        self.calls.append(list(texts))
        return self.encoder.encode_texts(texts)


def test_caption_vectors_embed_each_distinct_text_once(tiny_encoder):
    counting = CountingEncoder(tiny_encoder)
    captions = CaptionVectors(counting)
    first = captions(TEXTS[:3])
    assert counting.calls == [TEXTS[:2]]  # the repeat within the batch is not embedded again
    second = captions(TEXTS[2:])
    assert counting.calls == [TEXTS[:2], TEXTS[3:]]  # nor a text of an earlier batch
    want = tiny_encoder.encode_texts(TEXTS)
    assert np.allclose(first, want[:3], atol=1e-5) and np.allclose(second, want[2:], atol=1e-5)
    assert captions([]).shape == (0, tiny_encoder.dim)


def test_caption_vectors_remember_only_the_last_texts(tiny_encoder):
    counting = CountingEncoder(tiny_encoder)
    captions = CaptionVectors(counting, keep=2)
    captions(TEXTS[:2])
    captions(TEXTS[3:])  # the first text is forgotten
    captions(TEXTS[:1])
    assert counting.calls == [TEXTS[:2], TEXTS[3:], TEXTS[:1]]


def test_normalise_gives_the_arithmetic_values():
    pre = Preprocess(224, (8, 6), (0.48145466, 0.4578275, 0.40821073), (0.2686, 0.2613, 0.2758))
    batch = np.random.default_rng(0).integers(0, 256, (3, 8, 6, 3), dtype=np.uint8)
    batch[0, 0, 0] = (0, 255, 128)
    x = batch.astype(np.float32) * (1.0 / 255.0)
    x -= np.asarray(pre.mean, dtype=np.float32)
    x /= np.asarray(pre.std, dtype=np.float32)
    want = x.transpose(0, 3, 1, 2)
    got = pre.normalise(batch)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert np.array_equal(got, want)
    assert np.array_equal(pre.normalise(batch[1][None]), want[1:2])  # a photo alone
    assert np.array_equal(pre.normalise(batch.astype(np.float32)), want)  # float input


def test_load_soon_loads_in_the_background(tiny_clip_dir, tiny_encoder):
    lazy = LazyClipEncoder(tiny_clip_dir, dtype="float32")
    lazy.load_soon()
    lazy.load_soon()  # once
    lazy._loader.join(timeout=120)
    assert lazy.loaded
    assert np.array_equal(lazy.encode_texts(TEXTS), tiny_encoder.encode_texts(TEXTS))


def test_a_failed_background_load_is_raised_by_the_next_use(tiny_clip_dir):
    from ingest.models.fingerprint import ModelNotFound

    lazy = LazyClipEncoder(tiny_clip_dir, dtype="float32")
    attempts = []

    def broken():
        attempts.append(1)
        raise ModelNotFound("weights gone")

    lazy._make = broken
    lazy.load_soon()
    lazy._loader.join(timeout=60)
    assert not lazy.loaded
    with pytest.raises(ModelNotFound, match="weights gone"):
        lazy.encode_texts(TEXTS)
    assert len(attempts) == 2
