"""Dynamic batching of text encodes across concurrent requests.

A CPU text tower costs almost the same for 1 query as for 8 short ones (the matmuls are
small; the per-call overhead and the weights' memory traffic dominate), so concurrent search
requests are served faster together than one after another. :class:`TextBatcher` runs one
worker thread: callers :meth:`~TextBatcher.submit` their texts and block on a future; the
worker takes the first waiting request, gathers whatever else arrives within ``max_wait_ms``
(or until ``max_batch`` texts), makes ONE ``encode`` call and hands each caller its own rows.

While the model is busy, new requests queue up, so under load batches form by themselves;
``max_wait_ms`` only adds latency when the worker is idle and a request arrives alone.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

Encode = Callable[[list[str]], np.ndarray]


class BatcherClosed(RuntimeError):
    """The batcher was shut down; the request was not encoded."""


@dataclass
class _Request:
    texts: list[str]
    future: Future = field(default_factory=Future)


@dataclass
class BatcherStats:
    """Counters since start: encoder calls, requests and texts served."""

    batches: int = 0
    requests: int = 0
    texts: int = 0
    largest: int = 0

    @property
    def mean_requests_per_batch(self) -> float:
        return self.requests / self.batches if self.batches else 0.0


_STOP = object()


class TextBatcher:
    """Collects concurrent ``encode`` requests into one call. Thread-safe.

    Args:
        encode: ``list[str] -> (N, dim) array``, e.g. ``ClipEncoder.encode_texts``.
        max_batch: Most texts per encoder call (a larger single request still goes alone).
        max_wait_ms: How long an idle worker waits for company after the first request.
        name: The worker thread's name.

    A batch whose encode fails is retried request by request, so an error reaches only the
    callers whose texts cause it. :meth:`close` serves what is queued, then stops the worker.
    """

    def __init__(
        self,
        encode: Encode,
        *,
        max_batch: int = 16,
        max_wait_ms: float = 2.0,
        name: str = "tuwen-text-batcher",
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be 0 or more, got {max_wait_ms}")
        self._encode = encode
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.stats = BatcherStats()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = threading.Event()
        self._submit_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ callers
    def submit(self, texts: Sequence[str]) -> Future:
        """Queue ``texts``; the future resolves to their ``(len(texts), dim)`` vectors.

        Raises:
            BatcherClosed: The batcher was closed.
        """
        req = _Request(list(texts))
        if not req.texts:
            req.future.set_result(np.zeros((0, 0), dtype=np.float32))
            return req.future
        with self._submit_lock:  # no request slips in behind the stop marker
            if self._closed.is_set():
                raise BatcherClosed("the text batcher is shut down")
            self._queue.put(req)
        return req.future

    def encode(self, texts: Sequence[str], timeout: float | None = None) -> np.ndarray:
        """Encode ``texts`` in a shared batch and wait for their vectors."""
        return self.submit(texts).result(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop accepting requests, serve those already queued, then stop the worker.
        Later :meth:`submit` calls raise :class:`BatcherClosed`. Safe to call twice."""
        with self._submit_lock:
            if not self._closed.is_set():
                self._closed.set()
                self._queue.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __enter__(self) -> TextBatcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        carry: _Request | None = None
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is _STOP:
                break
            batch, n, stop = [first], len(first.texts), False
            deadline = time.perf_counter() + self.max_wait
            while n < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    try:
                        item = self._queue.get(timeout=left)
                    except queue.Empty:
                        break
                if item is _STOP:
                    stop = True
                    break
                if n + len(item.texts) > self.max_batch:
                    carry = item  # too big to join: it leads the next batch
                    break
                batch.append(item)
                n += len(item.texts)
            self._serve(batch)
            if stop:
                break
        self._fail_queued()

    def _serve(self, batch: list[_Request]) -> None:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        texts = [t for r in live for t in r.texts]
        try:
            vecs = np.asarray(self._encode(texts))
            if len(vecs) != len(texts):
                raise RuntimeError(f"encoder returned {len(vecs)} vectors for {len(texts)} texts")
        except BaseException as e:  # noqa: BLE001 - handed to the callers, never lost
            if len(live) == 1:
                live[0].future.set_exception(e)
            else:  # find whose texts fail: the others still get their vectors
                log.debug("batched encode failed (%s); retrying %d requests alone", e, len(live))
                for r in live:
                    self._serve_alone(r)
            self._count(live, texts)
            return
        self._count(live, texts)
        i = 0
        for r in live:
            r.future.set_result(vecs[i : i + len(r.texts)])
            i += len(r.texts)

    def _serve_alone(self, r: _Request) -> None:
        try:
            r.future.set_result(np.asarray(self._encode(r.texts)))
        except BaseException as e:  # noqa: BLE001
            r.future.set_exception(e)

    def _count(self, live: list[_Request], texts: list[str]) -> None:
        s = self.stats
        s.batches += 1
        s.requests += len(live)
        s.texts += len(texts)
        s.largest = max(s.largest, len(live))

    def _fail_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP and item.future.set_running_or_notify_cancel():
                item.future.set_exception(BatcherClosed("the text batcher shut down"))
