"""The unit retrieval hands to the answering side: one catalog product and its score."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    """One retrieved product.

    Attributes:
        id: Qdrant point id (uuid5 of the relative path).
        file: Image path relative to the catalog root, e.g. ``"12345.jpg"``.
        caption: The product's caption, or ``None`` when the photo is unannotated.
        score: Retrieval score; higher is better (cosine or fused RRF score).
    """

    id: str
    file: str
    caption: str | None
    score: float
