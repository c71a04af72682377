"""Reading a CLIP-family model (Chinese-CLIP, AltCLIP, CLIP) through transformers, by hub id or
local directory, with errors that say which setting to change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from ingest.images import Preprocess
from ingest.models.device import offline
from ingest.models.fingerprint import ModelNotFound, hub_kwargs


def load_clip_parts(name: str, revision: str | None = None) -> tuple[Any, Any, Any]:
    """The float model, tokenizer and image processor of CLIP model ``name``.

    Raises:
        ModelNotFound: the model is neither a complete local directory nor reachable; the
            message says how to point ``TUWEN_CLIP_MODEL`` at a local directory.
    """
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    source, kw = hub_kwargs(name, revision)
    try:
        model = AutoModel.from_pretrained(source, **kw)
        tokenizer = AutoTokenizer.from_pretrained(source, **kw)
        image_processor = AutoImageProcessor.from_pretrained(source, **kw)
    except (OSError, ValueError) as e:
        if Path(name).expanduser().is_dir():
            raise ModelNotFound(
                f"{source} is not a complete CLIP model directory ({e}); it needs the "
                "files save_pretrained writes for the model, tokenizer and processor"
            ) from e
        raise ModelNotFound(
            f"cannot load CLIP model {name!r}"
            + (" with HF_HUB_OFFLINE=1" if offline() else "")
            + f": {str(e).splitlines()[0]}. Download it on a connected machine "
            "(e.g. `huggingface-cli download "
            f"{name} --local-dir ./models/clip`) and set TUWEN_CLIP_MODEL=./models/clip "
            "(or pass --clip-model ./models/clip)."
        ) from e
    if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
        raise ModelNotFound(f"{name!r} is a {type(model).__name__}, not a CLIP-family model")
    return model, tokenizer, image_processor


def max_text_length(model: Any, tokenizer: Any) -> int:
    """The longest token sequence the text tower takes (52 for Chinese-CLIP, at most 77)."""
    text_cfg = getattr(model.config, "text_config", model.config)
    return min(
        int(getattr(tokenizer, "model_max_length", 77) or 77),
        int(getattr(text_cfg, "max_position_embeddings", 77) or 77),
        77 if getattr(model.config, "model_type", "") != "chinese_clip" else 52,
    )


def preprocess_from(image_processor: Any) -> Preprocess:
    """Read resize/crop/normalisation from a transformers image processor."""

    def hw(size: Any) -> tuple[int, int] | int:
        if size is None:
            return 224
        if isinstance(size, int):
            return size
        size = dict(size)
        if "height" in size and "width" in size:
            return (int(size["height"]), int(size["width"]))
        return int(size.get("shortest_edge") or size.get("longest_edge") or 224)

    resize = hw(getattr(image_processor, "size", None))
    crop = None
    if getattr(image_processor, "do_center_crop", False):
        c = hw(getattr(image_processor, "crop_size", None))
        crop = (c, c) if isinstance(c, int) else c
    mean = tuple(float(x) for x in image_processor.image_mean)
    std = tuple(float(x) for x in image_processor.image_std)
    resample = getattr(image_processor, "resample", Image.Resampling.BICUBIC)
    return Preprocess(resize, crop, mean, std, int(resample))  # type: ignore[arg-type]
