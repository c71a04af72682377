"""The text batcher: concurrent callers share encoder calls and get their own vectors."""

from __future__ import annotations

import threading
import time
import zlib

import numpy as np
import pytest

from service.answering.batcher import BatcherClosed, TextBatcher


def vec(text: str, dim: int = 8) -> np.ndarray:
    """A deterministic vector per text, so a caller can check it got its own."""
    rng = np.random.default_rng(zlib.crc32(text.encode()))
    return rng.standard_normal(dim).astype(np.float32)


class FakeEncoder:
    """Records the batches it is called with; optionally slow, optionally failing on a text."""

    def __init__(self, delay: float = 0.0, poison: str | None = None) -> None:
        self.delay = delay
        self.poison = poison
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self.lock:
            self.calls.append(list(texts))
        time.sleep(self.delay)
        if self.poison is not None and self.poison in texts:
            raise ValueError(f"cannot encode {self.poison!r}")
        return np.stack([vec(t) for t in texts])


def run_concurrently(batcher: TextBatcher, requests: list[list[str]]) -> list:
    results: list = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def call(i: int) -> None:
        start.wait()
        try:
            results[i] = batcher.encode(requests[i], timeout=10)
        except Exception as e:  # noqa: BLE001 - collected for the assertions
            results[i] = e

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_concurrent_callers_get_their_own_vectors_and_batches_form():
    enc = FakeEncoder(delay=0.02)
    requests = [[f"商品{i}"] for i in range(24)] + [["男士衬衫", "女士长裙"]]
    with TextBatcher(enc, max_batch=8, max_wait_ms=20) as batcher:
        results = run_concurrently(batcher, requests)
    for texts, got in zip(requests, results, strict=True):
        assert isinstance(got, np.ndarray), got
        np.testing.assert_array_equal(got, np.stack([vec(t) for t in texts]))
    # 26 texts in batches of at most 8: far fewer encoder calls than requests.
    assert sum(len(c) for c in enc.calls) == 26
    assert all(len(c) <= 8 for c in enc.calls)
    assert len(enc.calls) <= len(requests) // 2
    assert batcher.stats.requests == len(requests)
    assert batcher.stats.largest > 1


def test_a_lone_request_is_served_after_the_deadline_not_held():
    enc = FakeEncoder()
    with TextBatcher(enc, max_batch=16, max_wait_ms=5) as batcher:
        t0 = time.perf_counter()
        out = batcher.encode(["Levis背心 男士款 白色"], timeout=5)
        assert time.perf_counter() - t0 < 2.0
    np.testing.assert_array_equal(out[0], vec("Levis背心 男士款 白色"))
    assert enc.calls == [["Levis背心 男士款 白色"]]


def test_a_request_larger_than_max_batch_goes_alone():
    enc = FakeEncoder()
    texts = [f"t{i}" for i in range(5)]
    with TextBatcher(enc, max_batch=2, max_wait_ms=0) as batcher:
        out = batcher.encode(texts, timeout=5)
    assert out.shape == (5, 8)
    assert enc.calls == [texts]


def test_an_encoder_error_reaches_only_the_callers_whose_texts_fail():
    enc = FakeEncoder(delay=0.02, poison="坏")
    requests = [["好1"], ["坏"], ["好2"], ["好3", "坏"], ["好4"]]
    with TextBatcher(enc, max_batch=16, max_wait_ms=30) as batcher:
        results = run_concurrently(batcher, requests)
        # The worker survives the error and keeps serving.
        np.testing.assert_array_equal(batcher.encode(["后来"], timeout=5)[0], vec("后来"))
    for texts, got in zip(requests, results, strict=True):
        if "坏" in texts:
            assert isinstance(got, ValueError) and "坏" in str(got)
        else:
            np.testing.assert_array_equal(got, np.stack([vec(t) for t in texts]))


def test_a_failing_single_request_gets_the_error():
    enc = FakeEncoder(poison="坏")
    with TextBatcher(enc) as batcher, pytest.raises(ValueError, match="坏"):
        batcher.encode(["坏"], timeout=5)


def test_wrong_row_count_is_an_error_not_a_mixup():
    with (
        TextBatcher(lambda texts: np.zeros((1, 4)), max_wait_ms=0) as batcher,
        pytest.raises(RuntimeError, match="1 vectors for 2 texts"),
    ):
        batcher.encode(["a", "b"], timeout=5)


def test_close_serves_queued_requests_then_refuses_new_ones():
    release = threading.Event()

    def slow(texts: list[str]) -> np.ndarray:
        release.wait(5)
        return np.stack([vec(t) for t in texts])

    batcher = TextBatcher(slow, max_batch=1, max_wait_ms=0)
    first = batcher.submit(["一"])
    queued = batcher.submit(["二"])
    closer = threading.Thread(target=batcher.close)
    closer.start()
    deadline = time.monotonic() + 5
    while not batcher.closed and time.monotonic() < deadline:
        time.sleep(0.005)
    with pytest.raises(BatcherClosed):
        batcher.submit(["三"])
    release.set()
    closer.join(5)
    assert not closer.is_alive()
    np.testing.assert_array_equal(first.result(5)[0], vec("一"))
    np.testing.assert_array_equal(queued.result(5)[0], vec("二"))
    assert batcher.closed
    batcher.close()  # twice is fine


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_batch"):
        TextBatcher(lambda t: np.zeros((len(t), 1)), max_batch=0)
    with pytest.raises(ValueError, match="max_wait_ms"):
        TextBatcher(lambda t: np.zeros((len(t), 1)), max_wait_ms=-1)


class OneByOne:
    """The tiny encoder, but each text encoded alone and calls counted: its caption vectors
    are so alike (cosine 0.99999) that padding noise of a shared batch could swap near-ties,
    and this test is about who gets which result, not about float noise."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.fingerprint = encoder.fingerprint
        self.text_calls = 0

    def encode_texts(self, texts):
        self.text_calls += 1
        return np.concatenate([self.encoder.encode_texts([t]) for t in texts])

    def __getattr__(self, name):
        return getattr(self.encoder, name)


def test_retriever_with_batching_matches_without(tmp_path, tiny_encoder):
    """The real path: concurrent hybrid searches through the batcher rank like direct ones."""
    from ingest.catalog import load_catalog
    from ingest.job import run_ingest
    from ingest.store import EdgeStore
    from service.answering.retrieve import Retriever
    from tests.conftest import CAPTIONS, make_catalog

    images, captions = make_catalog(tmp_path / "cat", n=8)
    with EdgeStore(tmp_path / "data") as store:
        run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
        plain = Retriever(store, OneByOne(tiny_encoder))
        counted = OneByOne(tiny_encoder)
        batched = Retriever(store, counted, batch_texts=True, batch_wait_ms=20)
        try:
            queries = CAPTIONS * 2
            want = [[h.file for h in plain.search(q, 5)] for q in queries]
            got: list = [None] * len(queries)
            barrier = threading.Barrier(len(queries))

            def search(i: int) -> None:
                barrier.wait()
                got[i] = [h.file for h in batched.search(queries[i], 5)]

            threads = [threading.Thread(target=search, args=(i,)) for i in range(len(queries))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert got == want
            assert batched.batcher is not None
            assert batched.batcher.stats.batches < len(queries)
            assert counted.text_calls == batched.batcher.stats.batches
        finally:
            batched.close()
        # After close, searches still work (encoded directly).
        assert [h.file for h in batched.search(CAPTIONS[0], 5)] == want[0]
