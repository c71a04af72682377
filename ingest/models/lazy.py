"""A CLIP encoder that loads its weights on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ingest.models.clip import ClipEncoder
from ingest.models.fingerprint import Fingerprint, ModelNotFound, fingerprint_of


class LazyClipEncoder:
    """A :class:`ClipEncoder` that loads its weights on first use.

    ``fingerprint`` is known without loading, so a run with nothing to embed never pays for
    the model. Takes :meth:`ClipEncoder.from_pretrained`'s arguments.
    """

    def __init__(self, name_or_dir: str | Path, **kwargs: Any) -> None:
        self._setup(
            fingerprint_of(name_or_dir, kwargs.get("revision")),
            lambda: ClipEncoder.from_pretrained(name_or_dir, **kwargs),
            str(name_or_dir),
        )

    def _setup(self, fingerprint: Fingerprint, load: Callable[[], ClipEncoder], name: str) -> None:
        self._name = name
        self._make = load
        self._encoder: ClipEncoder | None = None
        self._loader: threading.Thread | None = None
        self._lock = threading.Lock()
        self.fingerprint = fingerprint

    @property
    def loaded(self) -> bool:
        """Whether the weights are loaded."""
        return self._encoder is not None

    def load_soon(self) -> None:
        """Start loading the weights in a background thread, so that other work overlaps it.

        A no-op once loaded or started. A failed load is not reported here: the next use loads
        again and raises.
        """
        with self._lock:
            if self._encoder is not None or self._loader is not None:
                return
            self._loader = threading.Thread(
                target=self._load_quietly, name="clip-load", daemon=True
            )
            self._loader.start()

    def _load_quietly(self) -> None:
        try:
            self._load()
        except Exception:  # noqa: BLE001 - the next use loads again and raises
            pass

    def _load(self) -> ClipEncoder:
        with self._lock:
            if self._encoder is None:
                enc = self._make()
                if enc.fingerprint != self.fingerprint:  # pragma: no cover - changed under us
                    raise ModelNotFound(f"{self._name}: the model changed while loading")
                self._encoder = enc
        return self._encoder

    def with_int8(
        self,
        towers: Sequence[str],
        runtime: str = "auto",
        cache_dir: str | Path | None = None,
    ) -> LazyClipEncoder:
        """:meth:`ClipEncoder.with_int8`, made when first used (loading this encoder then)."""
        twin = LazyClipEncoder.__new__(LazyClipEncoder)
        twin._setup(
            self.fingerprint, lambda: self._load().with_int8(towers, runtime, cache_dir), self._name
        )
        return twin

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)
