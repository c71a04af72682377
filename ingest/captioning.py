"""Captions for photos that have none: the seam every captioner plugs into.

A captioner looks at uncaptioned photos and proposes a caption (and, where it knows them,
attribute values). The ingest job stores what it proposes as *generated*: a real caption is
never overwritten, a real caption added later replaces the generated one, and a rerun with the
same captioner (same :attr:`Captioner.name`) changes nothing.

Implementations: answer heads trained with the CLIP model (the VQA stage), and
vision-language captioning models (BLIP, or any image-text-to-text model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Generated:
    """What a captioner proposes for one photo.

    Attributes:
        caption: The generated caption, or ``None`` when nothing is confident enough.
        attributes: Predicted attribute values, field → value (``color``, ``gender``, ...).
        likely: Per field, the plausible values with their probabilities (``{"color":
            {"黑色": 0.71, "藏青色": 0.18}}``), also below the confidence a caption needs:
            retrieval ranks photos without a real caption by how likely a product text's
            attributes are for them (:mod:`service.answering.likelihood`). Empty when the
            captioner gives no probabilities.
    """

    caption: str | None
    attributes: dict[str, str] = field(default_factory=dict)
    likely: dict[str, dict[str, float]] = field(default_factory=dict)


@runtime_checkable
class Captioner(Protocol):
    """Proposes captions for photos.

    Attributes:
        name: A stable identity of the model and its revision. It is stored with each
            generated caption, so that a rerun with the same captioner changes nothing and a
            different captioner regenerates.
    """

    name: str

    def caption(self, images: Sequence[Image.Image], image_vectors: np.ndarray) -> list[Generated]:
        """One proposal per photo, in order.

        Args:
            images: The decoded photos (RGB).
            image_vectors: Their CLIP image vectors, one row per photo (unit length).
        """
        ...
