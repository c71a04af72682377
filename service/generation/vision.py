"""The questioned photo in a chat: downscaled, encoded, and placed in the last user message.

Two shapes of the same conversation: the OpenAI one (an ``image_url`` content part holding
a base64 JPEG data URL, as vLLM, SGLang, LMDeploy and Ollama take it) and the transformers
one (``{"type": "image"}`` parts that a processor's chat template turns into image tokens).
"""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from ingest.models.vlm import fit_longest_side

__all__ = ["fit_longest_side", "hf_messages", "jpeg_data_url", "openai_messages"]


def jpeg_data_url(image: Image.Image, side: int, quality: int = 90) -> str:
    """A ``data:image/jpeg;base64,...`` URL of the photo fitted to ``side`` (see
    :func:`fit_longest_side`)."""
    buffer = io.BytesIO()
    fit_longest_side(image, side).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _last_user(messages: list[dict[str, Any]]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    raise ValueError("the chat has no user message to attach the photo to")


def openai_messages(messages: list[dict[str, str]], image_url: str) -> list[dict[str, Any]]:
    """The chat with the photo as an ``image_url`` part before the last user message's text.

    Args:
        messages: ``{"role", "content"}`` chat messages (text content).
        image_url: An ``http(s)`` or ``data:`` URL (see :func:`jpeg_data_url`).

    Returns:
        New messages; the others are unchanged.

    Raises:
        ValueError: When there is no user message.
    """
    i = _last_user(messages)
    out: list[dict[str, Any]] = [dict(m) for m in messages]
    out[i]["content"] = [
        {"type": "image_url", "image_url": {"url": image_url}},
        {"type": "text", "text": messages[i]["content"]},
    ]
    return out


def hf_messages(messages: list[dict[str, str]], with_image: bool) -> list[dict[str, Any]]:
    """The chat in transformers' multimodal form: every content a list of typed parts, and an
    ``{"type": "image"}`` part first in the last user message when ``with_image``.

    Raises:
        ValueError: When ``with_image`` and there is no user message.
    """
    out: list[dict[str, Any]] = [
        {"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in messages
    ]
    if with_image:
        i = _last_user(messages)
        out[i]["content"].insert(0, {"type": "image"})
    return out
