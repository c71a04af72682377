"""The LRU cache of query text vectors: the same vectors as the encoder, bounded, evicting."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from service.answering.query_cache import QueryCache, normalise


class CountingEncoder:
    """A deterministic fake text tower that records what it was asked to encode."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(8) for t in texts]
        return np.asarray(rows, dtype=np.float32)


def test_hits_return_the_vectors_a_miss_returns_and_encode_only_misses():
    enc, cache = CountingEncoder(), QueryCache(4)
    first = cache.encode(["男士衬衫", "红色连衣裙"], enc)
    again = cache.encode(["红色连衣裙", "  男士衬衫 ", "白色运动鞋"], enc)
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[1], first[0])
    assert np.array_equal(again[2], enc(["白色运动鞋"])[0])
    assert enc.calls[:2] == [["男士衬衫", "红色连衣裙"], ["白色运动鞋"]]
    assert (cache.hits, cache.misses) == (2, 3) and cache.hit_rate == pytest.approx(0.4)


def test_least_recently_used_is_evicted_at_the_bound():
    enc, cache = CountingEncoder(), QueryCache(2)
    cache.encode(["a"], enc)
    cache.encode(["b"], enc)
    cache.encode(["a"], enc)  # a is now the most recent
    cache.encode(["c"], enc)  # evicts b
    assert len(cache) == 2
    enc.calls.clear()
    cache.encode(["a", "c"], enc)
    assert enc.calls == []
    cache.encode(["b"], enc)
    assert enc.calls == [["b"]]


def test_size_zero_caches_nothing_and_duplicates_in_one_call_encode_once():
    enc, off = CountingEncoder(), QueryCache(0)
    off.encode(["a"], enc)
    off.encode(["a"], enc)
    assert len(enc.calls) == 2 and len(off) == 0 and off.hit_rate == 0
    enc, on = CountingEncoder(), QueryCache(8)
    out = on.encode(["x", "x ", "y"], enc)
    assert enc.calls == [["x", "y"]] and np.array_equal(out[0], out[1])
    with pytest.raises(ValueError, match="TUWEN_QUERY_CACHE"):
        QueryCache(-1)


def test_normalise_and_concurrent_use():
    assert normalise("  男士\t衬衫\n 黑色 ") == "男士 衬衫 黑色"
    enc, cache = CountingEncoder(), QueryCache(16)
    texts = [f"q{i % 20}" for i in range(200)]

    def worker() -> None:
        for t in texts:
            cache.encode([t], enc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 16 and cache.hits + cache.misses == 800


def test_retriever_encodes_a_repeated_text_once(tiny_encoder, tmp_path):
    from ingest.catalog import load_catalog
    from ingest.job import run_ingest
    from ingest.store import EdgeStore
    from service.answering.retrieve import Retriever
    from tests.conftest import make_catalog

    images, captions = make_catalog(tmp_path / "cat", n=6)
    with EdgeStore(tmp_path / "data") as store:
        run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
        cached = Retriever(store, tiny_encoder, query_cache=8)
        plain = Retriever(store, tiny_encoder)
        a = cached.search("男士衬衫", k=3)
        b = cached.search("男士衬衫 ", k=3)
        assert (
            [h.file for h in a]
            == [h.file for h in b]
            == [h.file for h in plain.search("男士衬衫", k=3)]
        )
        assert (cached.cache.hits, cached.cache.misses) == (1, 1)
