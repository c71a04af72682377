"""What a search is asked with and what it accounts: the questioned image, the query role of a
CLIP model, and the time spent per stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from ingest.store import point_id


class ImageNotFound(LookupError):
    """The questioned image is neither an indexed catalog file nor a readable photo."""


class QueryEncoder(Protocol):
    """What retrieval needs of a CLIP model (the query role of ``ingest.models``)."""

    fingerprint: Any
    preprocess: Any

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray: ...


@dataclass
class QueryImage:
    """The image a question is about.

    Attributes:
        vector: Its CLIP image vector (the stored one for a catalog image).
        file: Its catalog file when it is indexed, else ``None`` (an upload).
        caption: Its own real caption when the catalog has one (never a generated one).
        look: Its look vector (:mod:`ingest.look`), when there is one.
        photo: The decoded photo, when resolving it decoded one (an upload or a path outside
            the catalog); a catalog image reuses its vector and is not decoded.
        path: The local file the question named, when it is one (a catalog file named by
            its path): where a vision model's photo is read from.
    """

    vector: np.ndarray
    file: str | None = None
    caption: str | None = None
    look: np.ndarray | None = None
    photo: Image.Image | None = None
    path: Path | None = None

    @property
    def id(self) -> str | None:
        """The store's point id of :attr:`file`, or ``None`` for an upload."""
        return point_id(self.file) if self.file else None


@dataclass
class Timings:
    """Milliseconds per stage, accumulated."""

    encode: float = 0.0
    search: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
