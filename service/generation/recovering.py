"""A generator that survives its backend's failures: back off, then try the backend again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from service.generation.base import Generator, GeneratorUnavailable

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

__all__ = ["RecoveringGenerator"]

_MAX_DOUBLINGS = 30  # 2**30 × any retry_s is past every sensible cap; keeps the float finite


class RecoveringGenerator:
    """Wraps a backend so that a failure costs a back-off, not the rest of the process.

    The backend is loaded at once. When loading it or a call to it raises
    :class:`GeneratorUnavailable`, the error is re-raised (the caller answers without the
    model) and the backend is off for a back-off: ``retry_s`` after the first failure, doubled
    after each further one in a row, at most ``retry_max_s``. During the back-off calls raise
    :class:`GeneratorUnavailable` at once, with the last error as the message, without
    touching the backend. After it, the next call tries the backend again (loading it first
    if it never loaded); only that one call tries, concurrent calls are still refused until
    it yields its first piece (success: the back-off is reset) or fails (a longer back-off).

    Args:
        load: Builds the backend; raises :class:`GeneratorUnavailable` when it cannot.
        label: The backend in words while it is not loaded, e.g. ``openai:glm-4@http://...``.
        retry_s: Back-off after the first failure, in seconds.
        retry_max_s: Longest back-off, in seconds.
        clock: Monotonic seconds; default ``time.monotonic``.
        vision: The backend sees images (known before it loads): :meth:`stream` passes its
            ``image`` on.

    Raises:
        ValueError: When ``retry_s`` is not positive or ``retry_max_s`` is below it.
    """

    def __init__(
        self,
        load: Callable[[], Generator],
        *,
        label: str,
        retry_s: float = 30.0,
        retry_max_s: float = 600.0,
        clock: Callable[[], float] | None = None,
        vision: bool = False,
    ) -> None:
        if not retry_s > 0:
            raise ValueError(f"retry_s (TUWEN_LLM_RETRY_S) must be positive, got {retry_s!r}")
        if retry_max_s < retry_s:
            raise ValueError(
                f"retry_max_s (TUWEN_LLM_RETRY_MAX_S) must be at least retry_s ({retry_s}), "
                f"got {retry_max_s!r}"
            )
        self._load = load
        self._label = label
        self.vision = vision
        self.retry_s = float(retry_s)
        self.retry_max_s = float(retry_max_s)
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._backend: Generator | None = None
        self._failures = 0
        self._failures_total = 0
        self._last_error: str | None = None
        self._retry_at = 0.0
        self._probing = False
        try:
            self._backend = load()
        except GeneratorUnavailable as e:
            self._failed(e)

    @property
    def name(self) -> str:
        """The backend's name once loaded, else the label."""
        backend = self._backend
        return backend.name if backend is not None else self._label

    @property
    def backend(self) -> Generator | None:
        """The wrapped backend, or ``None`` while it has not loaded."""
        return self._backend

    def status(self) -> dict[str, Any]:
        """The backend's health, for ``/readyz`` and ``/metrics``.

        Returns:
            ``backend`` (name), ``state`` (``"ok"``, or ``"backoff"`` from a failure until a
            call succeeds), ``loaded``, ``failures`` (in a row), ``failures_total``,
            ``last_error`` (the latest failure's message, or ``None``) and ``retry_in_s``
            (seconds until the backend is tried again; 0 when it will be on the next call).
        """
        with self._lock:
            failures, retry_at = self._failures, self._retry_at
            status = {
                "backend": self.name,
                "state": "backoff" if failures else "ok",
                "loaded": self._backend is not None,
                "failures": failures,
                "failures_total": self._failures_total,
                "last_error": self._last_error,
            }
        status["retry_in_s"] = round(max(0.0, retry_at - self._clock()), 3) if failures else 0.0
        return status

    def stream(
        self,
        messages: list[dict[str, str]],
        max_new_tokens: int = 256,
        image: Image.Image | None = None,
    ) -> Iterator[str]:
        """Streams from the backend unless it is backing off.

        Args:
            messages: Chat messages.
            max_new_tokens: Upper bound on generated tokens.
            image: The questioned photo, passed on when :attr:`vision` is on.

        Raises:
            GeneratorUnavailable: At once during a back-off (the message is the last
                failure), or when the backend fails to load or to answer.
        """
        backend = self._admit()
        settled = False
        try:
            if image is not None and self.vision:
                pieces = backend.stream(messages, max_new_tokens, image=image)  # type: ignore[call-arg]
            else:
                pieces = backend.stream(messages, max_new_tokens)
            for piece in pieces:
                if not settled:
                    settled = True
                    self._succeeded()
                yield piece
            if not settled:  # an empty answer is an answer
                settled = True
                self._succeeded()
        except GeneratorUnavailable as e:
            settled = True
            self._failed(e)
            raise
        finally:
            if not settled:  # closed before the first piece, or an unexpected error
                with self._lock:
                    self._probing = False

    def _admit(self) -> Generator:
        with self._lock:
            if self._failures:
                if self._probing or self._clock() < self._retry_at:
                    raise GeneratorUnavailable(self._last_error or f"{self.name} is backing off")
                self._probing = True
            backend = self._backend
        if backend is None:
            try:
                backend = self._load()
            except GeneratorUnavailable as e:
                self._failed(e)
                raise
            except BaseException:
                with self._lock:
                    self._probing = False
                raise
            with self._lock:
                self._backend = backend
        return backend

    def _failed(self, error: GeneratorUnavailable) -> None:
        with self._lock:
            self._failures += 1
            self._failures_total += 1
            self._last_error = str(error)
            delay = min(
                self.retry_s * 2 ** min(self._failures - 1, _MAX_DOUBLINGS), self.retry_max_s
            )
            self._retry_at = self._clock() + delay
            self._probing = False
            failures = self._failures
        logger.warning(
            "LLM backend %s failed (%d in a row): %s; answering without it, next try in %.0f s",
            self.name,
            failures,
            error,
            delay,
        )

    def _succeeded(self) -> None:
        with self._lock:
            recovered = self._failures
            self._failures = 0
            self._probing = False
        if recovered:
            logger.warning("LLM backend %s answers again after %d failure(s)", self.name, recovered)
