"""A chat model behind an OpenAI-compatible server (vLLM, Ollama, Xinference), streamed over SSE;
with ``vision`` on, the questioned photo goes along as an ``image_url`` content part."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

from service.generation.base import GeneratorUnavailable
from service.generation.vision import jpeg_data_url, openai_messages

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["OpenAIGenerator"]


class OpenAIGenerator:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        base_url: Server root including the API prefix, e.g. ``http://localhost:8000/v1``.
        model: Model name the server knows.
        api_key: Bearer token, if the server wants one.
        timeout: Seconds for connecting and between streamed chunks.
        temperature: Sampling temperature sent with each request.
        vision: The served model sees images (Qwen2.5-VL, GLM-4V, MiniCPM-V, InternVL):
            :meth:`stream` sends its ``image`` as a base64 JPEG ``image_url`` part of the last
            user message (``TUWEN_LLM_VISION``).
        image_side: Longest side of that JPEG in pixels; larger photos are scaled down
            (``TUWEN_LLM_IMAGE_SIDE``).

    Raises:
        ValueError: When ``base_url`` is not http(s), ``model`` is empty or ``image_side``
            is not positive.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        *,
        temperature: float = 0.0,
        vision: bool = False,
        image_side: int = 768,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https://, got {base_url!r} "
                "(e.g. http://localhost:8000/v1; TUWEN_LLM_BASE_URL)"
            )
        if not model:
            raise ValueError(
                "model must name the model the server serves (e.g. glm-4-9b-chat; TUWEN_LLM_MODEL)"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.temperature = temperature
        if image_side < 1:
            raise ValueError(
                f"image_side (TUWEN_LLM_IMAGE_SIDE) must be positive, got {image_side}"
            )
        self.vision = vision
        self.image_side = image_side
        kind = "openai-vision" if vision else "openai"
        self.name = f"{kind}:{model}@{self.base_url}"

    @property
    def url(self) -> str:
        """The chat completions endpoint."""
        return f"{self.base_url}/chat/completions"

    def stream(
        self,
        messages: list[dict[str, str]],
        max_new_tokens: int = 256,
        image: Image.Image | None = None,
    ) -> Iterator[str]:
        """Streams ``choices[0].delta.content`` pieces from the server.

        Args:
            messages: Chat messages.
            max_new_tokens: Sent as ``max_tokens``.
            image: The questioned photo; with :attr:`vision` on it goes first in the last user
                message as a JPEG data URL at most ``image_side`` pixels on its longest side.
                Without vision it is not sent.

        Raises:
            GeneratorUnavailable: When the server is unreachable, answers non-200, or
                sends an error or a malformed chunk; the message names the URL.
        """
        url = self.url
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        sent: list[dict[str, Any]] = list(messages)
        if image is not None and self.vision:
            sent = openai_messages(messages, jpeg_data_url(image, self.image_side))
        payload = {
            "model": self.model,
            "messages": sent,
            "max_tokens": max_new_tokens,
            "temperature": self.temperature,
            "stream": True,
        }
        try:
            with (
                httpx.Client(timeout=self.timeout) as client,
                client.stream("POST", url, json=payload, headers=headers) as response,
            ):
                if response.status_code != 200:
                    body = response.read().decode("utf-8", errors="replace")[:300]
                    raise GeneratorUnavailable(
                        f"{url} answered HTTP {response.status_code}: {body}"
                    )
                content_type = response.headers.get("content-type", "")
                if "json" in content_type and "event-stream" not in content_type:
                    # A server that ignores "stream": one JSON completion.
                    body = json.loads(response.read())
                    text = _first_choice(body, url).get("message", {}).get("content") or ""
                    if text:
                        yield text
                    return
                for line in response.iter_lines():
                    piece = _sse_piece(line, url)
                    if piece is None:
                        return
                    if piece:
                        yield piece
        except httpx.HTTPError as e:
            raise GeneratorUnavailable(
                f"cannot reach the OpenAI-compatible server at {url}: {e!r}; check the "
                "server is running and the base URL (TUWEN_LLM_BASE_URL)"
            ) from e
        except json.JSONDecodeError as e:
            raise GeneratorUnavailable(f"{url} sent a response that is not JSON: {e}") from e


def _first_choice(body: Any, url: str) -> dict[str, Any]:
    if isinstance(body, dict) and "error" in body:
        raise GeneratorUnavailable(f"{url} answered with an error: {body['error']}")
    try:
        return body["choices"][0]
    except (KeyError, IndexError, TypeError) as e:
        raise GeneratorUnavailable(f"{url} sent a chunk without choices: {body!r:.200}") from e


def _sse_piece(line: str, url: str) -> str | None:
    """Text of one server-sent-events line: ``""`` for non-content, ``None`` at ``[DONE]``."""
    line = line.strip()
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    if not data:
        return ""
    choices = _first_choice(json.loads(data), url)
    return (choices.get("delta") or {}).get("content") or ""
