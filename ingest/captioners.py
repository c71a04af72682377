"""Which captioner ``tuwen ingest --caption-uncaptioned`` uses.

- ``--caption-model ID_OR_DIR`` (``TUWEN_CAPTION_MODEL``): a vision-language captioning model
  (:class:`ingest.models.vlm_captioner.VlmCaptioner`: BLIP, or any image-text-to-text model);
- otherwise the answer heads trained with the CLIP model (:class:`ingest.vqa.captioner.
  HeadsCaptioner`, saved in the CLIP model's directory by ``tuwen finetune``).

Both are imported only when asked for, so each can be absent from a build; what is missing is
reported naming the flag that asked for it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.captioning import Captioner
from ingest.models.fingerprint import ModelNotFound

if TYPE_CHECKING:
    from ingest.settings import Settings

_VLM = ("ingest.models.vlm_captioner", "VlmCaptioner")
_HEADS = ("ingest.vqa.captioner", "HeadsCaptioner")


class CaptionerUnavailable(ModelNotFound):
    """No captioner can be made from the flags given; the message names the flag."""


def _load(module: str, name: str, flag: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise CaptionerUnavailable(f"{flag}: this build has no {name} ({module}): {e}") from e


def captioner_from(
    caption_model: str | None,
    clip_model_dir: str | Path | None,
    encoder: Any,
    settings: Settings,
) -> Captioner:
    """The captioner for a run.

    Args:
        caption_model: ``--caption-model``: a captioning model's hub id or local directory;
            ``None`` uses the CLIP model's answer heads.
        clip_model_dir: The CLIP model the collection is built with (its directory holds the
            answer heads).
        encoder: That CLIP model (the document encoder), for captioners that reuse it.
        settings: Device, dtype and cache settings.

    Returns:
        A :class:`~ingest.captioning.Captioner`.

    Raises:
        CaptionerUnavailable: The captioner cannot be made; the message names the flag.
    """
    options = {
        "settings": settings,
        "encoder": encoder,
        "device": settings.device,
        "dtype": settings.dtype,
    }
    if caption_model:
        cls = _load(*_VLM, "--caption-model")
        try:
            captioner = _call(cls.from_pretrained, caption_model, options)
        except ModelNotFound:
            raise
        except Exception as e:  # noqa: BLE001 - one clear message for any loading failure
            raise CaptionerUnavailable(
                f"--caption-model {caption_model}: cannot load the captioning model: {e}"
            ) from e
        return _checked(captioner, "--caption-model")
    flag = "--caption-uncaptioned"
    cls = _load(*_HEADS, f"{flag} (without --caption-model)")
    where = Path(clip_model_dir) if clip_model_dir else None
    if where is None or not where.is_dir():
        raise CaptionerUnavailable(
            f"{flag}: the CLIP model {clip_model_dir!r} is not a local directory with answer "
            "heads (train one with `tuwen finetune`), or pass --caption-model ID_OR_DIR"
        )
    captioner = _call(cls.from_model_dir, where, options)
    if captioner is None:
        raise CaptionerUnavailable(
            f"{flag}: the CLIP model at {where} has no answer heads (train them with "
            "`tuwen finetune`), or pass --caption-model ID_OR_DIR"
        )
    return _checked(captioner, flag)


def _call(make: Callable[..., Any], target: Any, optional: dict[str, Any]) -> Any:
    """``make(target, ...)`` with those of ``optional`` that ``make`` takes by name."""
    try:
        params = inspect.signature(make).parameters
    except (TypeError, ValueError):
        return make(target)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in optional.items() if takes_any or k in params}
    return make(target, **kwargs)


def _checked(captioner: Any, flag: str) -> Captioner:
    if not isinstance(captioner, Captioner) or not getattr(captioner, "name", ""):
        raise CaptionerUnavailable(
            f"{flag}: {type(captioner).__name__} is not a captioner (needs a name and "
            "caption(images, image_vectors))"
        )
    return captioner
