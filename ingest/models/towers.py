"""What the CLIP towers share, whichever runtime (torch or ONNX Runtime) runs them."""

from __future__ import annotations

from typing import Any

import numpy as np

#: tower name → (its body module, its projection module) on a transformers CLIP-family model.
TOWER_MODULES: dict[str, tuple[str, str]] = {
    "text": ("text_model", "text_projection"),
    "vision": ("vision_model", "visual_projection"),
}


def pooled(out: Any) -> Any:
    """The embedding of ``get_text_features``/``get_image_features``: transformers 5 returns an
    output object (``.pooler_output``), older versions the tensor itself."""
    return out.pooler_output if hasattr(out, "pooler_output") else out


def normalise(t: Any) -> np.ndarray:
    """L2-normalised float32 rows of a torch tensor or a NumPy array."""
    v = t if isinstance(t, np.ndarray) else t.detach().float().cpu().numpy()
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)
