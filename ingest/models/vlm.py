"""Loading an image-text-to-text model (``AutoModelForImageTextToText`` + ``AutoProcessor``)
by hub id or local directory: what the VLM answer backend and the VLM captioner share.

Any such model transformers knows loads this way: BLIP, BLIP-2, InstructBLIP, LLaVA,
Qwen2-VL / Qwen2.5-VL, GLM-4.1V. torch and transformers are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from ingest.models.device import check_remote_code, offline, pick_dtype, resolve_device
from ingest.models.fingerprint import ModelNotFound, local_revision

__all__ = ["fit_longest_side", "load_image_text_to_text", "model_identity", "to_device"]


def fit_longest_side(image: Image.Image, side: int) -> Image.Image:
    """The photo in RGB, scaled down (never up) so that its longest side is at most ``side``.

    Args:
        image: Any Pillow image.
        side: Longest side in pixels.

    Returns:
        A new RGB image; the aspect ratio is kept (each side rounded, at least 1 pixel).

    Raises:
        ValueError: When ``side`` is not positive.
    """
    if side < 1:
        raise ValueError(f"the longest image side must be positive, got {side}")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    w, h = rgb.size
    scale = side / max(w, h)
    if scale >= 1:
        return rgb.copy()
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return rgb.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def model_identity(source: str, model: Any, revision: str | None = None) -> str:
    """A stable name of a loaded model: ``<resolved dir>@<content revision>`` for a local
    directory (see :func:`~ingest.models.fingerprint.local_revision`), ``<hub id>@<commit>``
    for a hub model (the commit its config came from, else ``revision``, else ``main``)."""
    local = Path(source).expanduser()
    if local.is_dir():
        return f"{local.resolve()}@{local_revision(local)}"
    commit = getattr(getattr(model, "config", None), "_commit_hash", None)
    return f"{source}@{commit or revision or 'main'}"


def load_image_text_to_text(
    source: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    revision: str | None = None,
    trust_remote_code: bool = False,
    local_files_only: bool | None = None,
    setting: str = "the model setting",
) -> tuple[Any, Any]:
    """The processor and the model (on its device, eval mode) of an image-text-to-text model.

    Args:
        source: Hub id or local directory.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``.
        dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``; ``auto`` follows
            :func:`~ingest.models.device.pick_dtype`.
        revision: Hub revision; a 40-hex commit when ``trust_remote_code``.
        trust_remote_code: Run the repository's own code (only with a pinned commit).
        local_files_only: Never download; default: true when the hub is switched off.
        setting: The setting or flag that names the model, for error messages.

    Returns:
        ``(processor, model)``.

    Raises:
        ValueError: For a bad device/dtype, or remote code without a pinned commit.
        ModelNotFound: When the model cannot be found or loaded; the message names the model
            and ``setting``, and says when a missing package (torchvision) is the cause.
    """
    check_remote_code(trust_remote_code, revision)
    resolved = resolve_device(device)
    torch_dtype = pick_dtype(dtype, resolved)
    no_downloads = offline() if local_files_only is None else local_files_only
    from transformers import AutoModelForImageTextToText, AutoProcessor

    common: dict[str, Any] = {
        "revision": revision,
        "trust_remote_code": trust_remote_code,
        "local_files_only": no_downloads,
    }
    try:
        processor = AutoProcessor.from_pretrained(source, **common)
        model = AutoModelForImageTextToText.from_pretrained(source, dtype=torch_dtype, **common)
    except ImportError as e:
        raise ModelNotFound(
            f"cannot load vision-language model {source!r}: {str(e).strip().splitlines()[0]} "
            "(the Qwen2-VL, Qwen2.5-VL and GLM-4.1V processors need torchvision, the build "
            "that matches torch)"
        ) from e
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        if not Path(source).is_dir() and no_downloads:
            raise ModelNotFound(
                f"vision-language model {source!r} is not in the local cache and downloads "
                f"are off (HF_HUB_OFFLINE=1): set {setting} to a local directory holding the "
                "model (config.json, processor and tokenizer files, weights)"
            ) from e
        raise ModelNotFound(
            f"cannot load vision-language model {source!r}: {e}; set {setting} to the hub id "
            "or local directory of an image-text-to-text model (e.g. Qwen/Qwen2-VL-2B-Instruct)"
        ) from e
    model.to(resolved)
    model.eval()
    return processor, model


def to_device(batch: Any, model: Any) -> dict[str, Any]:
    """Processor outputs on the model's device; floating tensors (pixel values) in its dtype."""
    device = getattr(model, "device", "cpu")
    dtype = getattr(model, "dtype", None)
    out = {}
    for key, value in batch.items():
        if hasattr(value, "to"):
            value = value.to(device)
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
        out[key] = value
    return out
