"""The look vector: a model-free descriptor of a product photo's silhouette.

Catalog photos are shot the same way (one product, centred, plain background), so the
grey-level layout of a 16×16 thumbnail already tells a T-shirt from a watch or a sandal.
It is stored beside the CLIP vectors (named vector ``look``, cosine) and fused with the CLIP
image vector (RRF) when an image's neighbours are searched: the CLIP vector carries what
training taught it (colour, brand, style), the look vector the shape, which a CLIP trained on
a small catalog learns last. Measured on catalog-dev with a CLIP trained 15 minutes from
scratch (16 neighbours, extractive answers): type accuracy 0.57 with the CLIP image vector
alone, 0.73 fused with the look vector; colour 0.60 and 0.59.

The vector is computed from the pixels the CLIP model is given (after its resize and crop),
so ingest and queries see the same thumbnail.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

LOOK = "look"
SIDE = 16
DIM = SIDE * SIDE


def look_vector(pixels: np.ndarray) -> np.ndarray | None:
    """The look vector of an image.

    Args:
        pixels: ``(H, W, 3)`` uint8 RGB, as :meth:`ingest.images.Preprocess.to_array` gives.

    Returns:
        ``(DIM,)`` float32 with unit norm: the grey levels of a box-filtered ``SIDE``×``SIDE``
        thumbnail minus their mean. ``None`` for a flat image (nothing to compare).
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got shape {pixels.shape}")
    grey = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).convert("L")
    thumb = np.asarray(grey.resize((SIDE, SIDE), Image.Resampling.BOX), dtype=np.float32)
    v = thumb.ravel()
    v -= v.mean()
    norm = float(np.linalg.norm(v))
    if norm < 1e-3:
        return None
    return v / norm
