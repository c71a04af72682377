"""What the running server holds: settings, store, models and the answering core."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ingest.downscale import keep_side
from service.http.blobs import UploadFiles
from service.http.folders import Folders
from service.http.memory import DecodeBudget, budget_bytes
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
        files: The uploaded products' photos (:class:`~service.http.blobs.UploadFiles`).
        folders: The folders of the product names (:class:`~service.http.folders.Folders`).
        budget: Memory for concurrent photo decodes (``TUWEN_DECODE_MEMORY_MB``).
    """

    settings: Settings
    store: Store
    answerer: Answerer
    document_encoder: ClipEncoder
    uploads_dir: Path
    metrics: Metrics = field(default_factory=Metrics)
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    warmup_ms: float | None = None
    files: UploadFiles = field(init=False)
    folders: Folders = field(init=False)
    budget: DecodeBudget = field(init=False)

    def __post_init__(self) -> None:
        self.files = UploadFiles(self.uploads_dir)
        self.folders = Folders()
        self.budget = DecodeBudget(budget_bytes(self.settings.decode_memory_mb))

    def decode_side(self) -> int:
        """The shortest side uploaded photos are decoded to: what the models need (the CLIP
        preprocessing, a vision LLM's ``TUWEN_LLM_IMAGE_SIDE``), with room to spare."""
        side = keep_side(self.document_encoder.preprocess)
        return max(side, int(getattr(self.settings, "llm_image_side", 0) or 0))

    def photo_path(self, name: str) -> Path | None:
        """The file of indexed product ``name``: its uploaded photo, else the catalog file."""
        p = self.store.get_file(name)
        if p is None:
            return None
        image_hash = p.payload.get("image_hash")
        if self.files.has(p.id, image_hash):
            return self.files.path(p.id, image_hash)
        if self.settings.images_dir:
            root = Path(self.settings.images_dir).resolve()
            path = (root / PurePosixPath(name)).resolve()
            if path.is_relative_to(root) and path.is_file():
                return path
        return None

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
