"""What the running server holds: settings, store, models and the answering core."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.metrics import Metrics

if TYPE_CHECKING:
    from ingest.models.clip import ClipEncoder
    from ingest.settings import Settings
    from ingest.store import Store
    from service.answering.answerer import Answerer
    from service.answering.retrieve import Retriever

log = logging.getLogger(__name__)


@dataclass
class Service:
    """The server's state, built once when the app starts.

    :func:`service.factory.build_service` builds it from settings.

    Attributes:
        settings: The settings it was built from.
        store: The open vector store.
        answerer: Answers questions (its retriever searches with the query encoder).
        document_encoder: Embeds uploaded photos and their captions (always float captions,
            as ``tuwen ingest`` stores them).
        uploads_dir: Where uploaded photos are kept.
        metrics: The app's Prometheus metrics.
        write_lock: Serialises uploads and deletions.
        warmup_ms: How long the warm-up search took, ``None`` when none ran.
    """

    settings: Settings
    store: Store
    answerer: Answerer
    document_encoder: ClipEncoder
    uploads_dir: Path
    metrics: Metrics = field(default_factory=Metrics)
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    warmup_ms: float | None = None

    @property
    def retriever(self) -> Retriever:
        """The answerer's retriever."""
        return self.answerer.retriever

    def warm_up(self) -> None:
        """Run one search before the server reports ready.

        The first user's request then does not pay for reading the store's index from disk
        (hundreds of ms on a 100k catalog) or the text tower's first call. Skipped on an empty
        catalog; a failure is logged, not fatal (the same error will then show on the first
        real search).
        """
        if not self.store.count():
            return
        t0 = time.perf_counter()
        try:
            self.retriever.search("商品", k=1)
        except Exception:  # noqa: BLE001 - warming must not stop the server
            log.exception("the warm-up search failed")
            return
        self.warmup_ms = (time.perf_counter() - t0) * 1000

    def roots(self) -> list[Path]:
        """Folders catalog photos are served from: uploads first, then the catalog folder."""
        roots = [self.uploads_dir]
        if self.settings.images_dir:
            roots.append(Path(self.settings.images_dir).resolve())
        return roots

    def llm_status(self) -> dict[str, Any] | None:
        """The generation backend's health (``None`` when answers are extractive).

        Returns:
            The generator's ``status()`` when it has one, else ``{"backend": name}``.
        """
        generator = getattr(self.answerer, "generator", None)
        if generator is None:
            return None
        status = getattr(generator, "status", None)
        return dict(status()) if callable(status) else {"backend": generator.name}

    def close(self) -> None:
        """Stop the retriever's batcher and close the store."""
        try:
            self.retriever.close()
        finally:
            self.store.close()
