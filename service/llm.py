"""Answer generation: one streaming interface, three backends, and a fallback.

- :class:`TransformersGenerator`: a local chat model through ``AutoModelForCausalLM``
  (transformers-native GLM by default), streamed with ``TextIteratorStreamer``.
- :class:`OpenAIGenerator`: any OpenAI-compatible server (vLLM, Ollama, Xinference),
  streamed over server-sent events with httpx.
- :class:`ExtractiveGenerator`: no model; composes the answer from the captions.

:func:`make_generator` builds one by name; with ``fallback=True`` a backend that is
unavailable at load or fails before its first piece is replaced by the extractive one,
and the wrapper's ``name`` says so (``extractive (fallback: <reason>)``).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx

from service.extractive import AnswerContext, extractive_answer

logger = logging.getLogger(__name__)

GPU_DEFAULT_MODEL = "THUDM/glm-4-9b-chat-hf"
CPU_DEFAULT_MODEL = "THUDM/glm-edge-1.5b-chat"
BACKENDS: tuple[str, ...] = ("transformers", "openai", "extractive")

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_TRUE = ("1", "true", "yes", "on")

__all__ = [
    "AnswerContext",
    "ExtractiveGenerator",
    "FallbackGenerator",
    "Generator",
    "GeneratorUnavailable",
    "OpenAIGenerator",
    "TransformersGenerator",
    "default_model_id",
    "generate",
    "make_generator",
]


class GeneratorUnavailable(RuntimeError):
    """A generation backend cannot be used (model missing, server unreachable, ...)."""


@runtime_checkable
class Generator(Protocol):
    """Streams an answer for chat messages.

    Attributes:
        name: The backend in words, e.g. ``"transformers:THUDM/glm-edge-1.5b-chat"``.
    """

    name: str

    def stream(
        self,
        messages: list[dict[str, str]],
        max_new_tokens: int = 256,
        *,
        context: AnswerContext | None = None,
    ) -> Iterator[str]:
        """Yields the answer in pieces.

        Args:
            messages: ``{"role", "content"}`` chat messages.
            max_new_tokens: Upper bound on generated tokens.
            context: Structured context (route, candidates, own caption); backends that
                do not read it ignore it.
        """
        ...


def generate(
    generator: Generator,
    messages: list[dict[str, str]],
    max_new_tokens: int = 256,
    *,
    context: AnswerContext | None = None,
) -> str:
    """Runs a generator to the end and joins its pieces.

    Args:
        generator: Any :class:`Generator`.
        messages: Chat messages.
        max_new_tokens: Upper bound on generated tokens.
        context: Structured context for backends that read it.

    Returns:
        The whole answer.
    """
    return "".join(generator.stream(messages, max_new_tokens, context=context))


# --- transformers ------------------------------------------------------------------------


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if _cuda_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return device


def default_model_id(device: str = "auto") -> str:
    """The default chat model for a device: GLM-4-9B on CUDA, GLM-Edge-1.5B on CPU.

    Args:
        device: ``auto``, ``cpu`` or ``cuda[:N]``.

    Returns:
        A hub id.
    """
    return GPU_DEFAULT_MODEL if _resolve_device(device).startswith("cuda") else CPU_DEFAULT_MODEL


def _resolve_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        from ingest.encoders import cpu_has_bf16

        # bench/generation.py: bf16 halves the time to first token on an AVX512-BF16 CPU.
        return torch.bfloat16 if cpu_has_bf16() else torch.float32
    choices = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in choices:
        raise ValueError(f"dtype must be 'auto' or one of {sorted(choices)}, got {dtype!r}")
    return choices[dtype]


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


class TransformersGenerator:
    """A local chat model run with transformers.

    Args:
        model: A loaded causal LM (already on its device).
        tokenizer: Its tokenizer; it must have a chat template.
        name: Backend name; default ``transformers:<model name_or_path>``.
        timeout: Seconds to wait for the next piece before giving up.
        generation_kwargs: Extra ``generate`` arguments; default greedy decoding.

    Raises:
        GeneratorUnavailable: When the tokenizer has no chat template.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str | None = None,
        timeout: float = 300.0,
        generation_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise GeneratorUnavailable(
                f"the tokenizer of {getattr(model, 'name_or_path', model)!r} has no chat "
                "template; use a chat model (e.g. THUDM/glm-edge-1.5b-chat)"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.name = name or f"transformers:{getattr(model, 'name_or_path', type(model).__name__)}"
        self.timeout = timeout
        self.generation_kwargs = {"do_sample": False, **(generation_kwargs or {})}

    @classmethod
    def from_pretrained(
        cls,
        model_id_or_dir: str | os.PathLike[str] | None = None,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool | None = None,
    ) -> TransformersGenerator:
        """Loads a chat model from a hub id or a local directory.

        Args:
            model_id_or_dir: Hub id or directory; default :func:`default_model_id`.
            device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``.
            dtype: ``auto`` (bfloat16 on CUDA and on CPUs with AMX/AVX512-BF16, else
                float16 on CUDA and float32 on CPU), ``float32``, ``bfloat16`` or ``float16``.
            trust_remote_code: Run the model repository's own code (ChatGLM3-style
                models); only allowed with ``revision`` pinned to a commit.
            revision: Hub revision; a 40-hex commit when ``trust_remote_code``.
            local_files_only: Never download; default: true when ``HF_HUB_OFFLINE`` or
                ``TRANSFORMERS_OFFLINE`` is set.

        Returns:
            The generator.

        Raises:
            ValueError: For a bad device/dtype, or remote code without a pinned commit.
            GeneratorUnavailable: When the model cannot be found or loaded.
        """
        if trust_remote_code and not (revision and _COMMIT.match(revision)):
            raise ValueError(
                "trust_remote_code=True runs code from the model repository; it is only "
                "allowed with revision pinned to a full 40-hex commit id (got "
                f"revision={revision!r}); pass the commit you reviewed, or use a "
                "transformers-native model such as THUDM/glm-edge-1.5b-chat"
            )
        resolved = _resolve_device(device)
        torch_dtype = _resolve_dtype(dtype, resolved)
        source = str(model_id_or_dir) if model_id_or_dir is not None else default_model_id(resolved)
        offline = _offline() if local_files_only is None else local_files_only
        from transformers import AutoModelForCausalLM, AutoTokenizer

        common: dict[str, Any] = {
            "revision": revision,
            "trust_remote_code": trust_remote_code,
            "local_files_only": offline,
        }
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **common)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **common)
        except (OSError, ValueError, ImportError) as e:
            if not Path(source).is_dir() and offline:
                raise GeneratorUnavailable(
                    f"LLM {source!r} is not in the local cache and downloads are off "
                    "(HF_HUB_OFFLINE=1): set TUWEN_LLM_MODEL to a local directory holding "
                    "the model (config.json, tokenizer files, weights)"
                ) from e
            raise GeneratorUnavailable(
                f"cannot load LLM {source!r}: {e}; set TUWEN_LLM_MODEL to a hub id or a "
                "local model directory"
            ) from e
        model.to(resolved)
        model.eval()
        return cls(model, tokenizer, name=f"transformers:{source}")

    def stream(
        self,
        messages: list[dict[str, str]],
        max_new_tokens: int = 256,
        *,
        context: AnswerContext | None = None,
    ) -> Iterator[str]:
        """Yields decoded text pieces as the model generates them (greedy by default).

        Args:
            messages: Chat messages, rendered with the tokenizer's chat template.
            max_new_tokens: Upper bound on generated tokens.
            context: Ignored.

        Raises:
            GeneratorUnavailable: When generation fails.
        """
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        device = getattr(self.model, "device", "cpu")
        inputs = {k: v.to(device) for k, v in inputs.items()}
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=self.timeout
        )
        stop = threading.Event()

        class _StopWhenClosed(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full(
                    (input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device
                )

        pad = self.tokenizer.pad_token_id
        kwargs = {
            **inputs,
            **self.generation_kwargs,
            "max_new_tokens": max_new_tokens,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_StopWhenClosed()]),
            "pad_token_id": pad if pad is not None else self.tokenizer.eos_token_id,
        }
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs)
            except BaseException as e:  # re-raised in the caller's thread
                errors.append(e)
                streamer.end()

        thread = threading.Thread(target=run, name="tuwen-generate", daemon=True)
        thread.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
        except queue.Empty as e:
            raise GeneratorUnavailable(
                f"{self.name} produced no text for {self.timeout:.0f} s; generation gave up"
            ) from e
        finally:
            stop.set()
            thread.join(timeout=self.timeout)
        if errors:
            raise GeneratorUnavailable(
                f"generation with {self.name} failed: {errors[0]}"
            ) from errors[0]


# --- OpenAI-compatible server ------------------------------------------------------------


class OpenAIGenerator:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        base_url: Server root including the API prefix, e.g. ``http://localhost:8000/v1``.
        model: Model name the server knows.
        api_key: Bearer token, if the server wants one.
        timeout: Seconds for connecting and between streamed chunks.
        temperature: Sampling temperature sent with each request.

    Raises:
        ValueError: When ``base_url`` is not http(s) or ``model`` is empty.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        *,
        temperature: float = 0.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https://, got {base_url!r} "
                "(e.g. http://localhost:8000/v1)"
            )
        if not model:
            raise ValueError("model must name the model the server serves (e.g. glm-4-9b-chat)")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.temperature = temperature
        self.name = f"openai:{model}@{self.base_url}"

    @property
    def url(self) -> str:
        """The chat completions endpoint."""
        return f"{self.base_url}/chat/completions"

    def stream(
        self,
        messages: list[dict[str, str]],
        max_new_tokens: int = 256,
        *,
        context: AnswerContext | None = None,
    ) -> Iterator[str]:
        """Streams ``choices[0].delta.content`` pieces from the server.

        Args:
            messages: Chat messages.
            max_new_tokens: Sent as ``max_tokens``.
            context: Ignored.

        Raises:
            GeneratorUnavailable: When the server is unreachable, answers non-200, or
                sends an error or a malformed chunk; the message names the URL.
        """
        url = self.url
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        payload = {
            "model": self.model,
            "messages": messages,
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


# --- extractive --------------------------------------------------------------------------


class ExtractiveGenerator:
    """Composes the answer from the candidates' captions; no language model.

    The answer is followed by ``[file]`` markers for the files it cites, the same form
    the language-model backends are asked for, so one citation path serves all.
    """

    name = "extractive"

    def stream(
        self,
        messages: list[dict[str, str]],
        max_new_tokens: int = 256,
        *,
        context: AnswerContext | None = None,
    ) -> Iterator[str]:
        """Yields the extractive answer (see :func:`service.extractive.extractive_answer`).

        Args:
            messages: Ignored (the answer is built from ``context``).
            max_new_tokens: Ignored.
            context: Required: route, candidates and own caption.

        Raises:
            ValueError: When ``context`` is missing.
        """
        if context is None:
            raise ValueError(
                "ExtractiveGenerator needs context=AnswerContext(route, candidates, "
                "own_caption): it answers from the captions, not from the messages"
            )
        text, files = extractive_answer(context.route, context.candidates, context.own_caption)
        yield text + "".join(f"[{f}]" for f in files)


# --- fallback and factory ----------------------------------------------------------------


class FallbackGenerator:
    """Uses a primary backend, switching to a fallback when the primary is unavailable.

    The switch happens when the primary could not be loaded (``primary=None``) or raises
    :class:`GeneratorUnavailable` before yielding anything; it is logged once and kept
    for later calls. ``name`` then reads ``"<fallback> (fallback: <reason>)"``.

    Args:
        primary: The preferred generator, or ``None`` when loading it failed.
        fallback: The generator to switch to; default :class:`ExtractiveGenerator`.
        reason: Why ``primary`` is ``None``.
    """

    def __init__(
        self,
        primary: Generator | None,
        fallback: Generator | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        self._primary = primary
        self._fallback = fallback or ExtractiveGenerator()
        self._reason: str | None = None
        self._lock = threading.Lock()
        if primary is None:
            self._switch(reason or "primary backend not loaded")

    @property
    def name(self) -> str:
        """The backend in use, with the fallback reason once switched."""
        if self._primary is not None:
            return self._primary.name
        return f"{self._fallback.name} (fallback: {self._reason})"

    @property
    def fell_back(self) -> bool:
        """Whether the fallback is in use."""
        return self._primary is None

    def _switch(self, reason: str) -> None:
        with self._lock:
            if self._reason is None:
                logger.warning("LLM backend unavailable, using %s: %s", self._fallback.name, reason)
                self._reason = reason
            self._primary = None

    def stream(
        self,
        messages: list[dict[str, str]],
        max_new_tokens: int = 256,
        *,
        context: AnswerContext | None = None,
    ) -> Iterator[str]:
        """Streams from the primary, or from the fallback once the primary failed.

        Raises:
            GeneratorUnavailable: When the primary fails after it has yielded text.
        """
        primary = self._primary
        if primary is not None:
            started = False
            try:
                for piece in primary.stream(messages, max_new_tokens, context=context):
                    started = True
                    yield piece
                return
            except GeneratorUnavailable as e:
                if started:
                    raise
                self._switch(str(e))
        yield from self._fallback.stream(messages, max_new_tokens, context=context)


def make_generator(
    backend: str,
    *,
    model: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
    revision: str | None = None,
    local_files_only: bool | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float = 60.0,
    fallback: bool = True,
) -> Generator:
    """Builds a generator by backend name.

    Args:
        backend: ``transformers``, ``openai`` or ``extractive``.
        model: transformers: hub id or directory (default per device); openai: the
            served model name (required).
        device: transformers device.
        dtype: transformers dtype.
        trust_remote_code: transformers remote code (needs a pinned ``revision``).
        revision: transformers hub revision.
        local_files_only: transformers: never download (default: from HF_HUB_OFFLINE).
        base_url: openai: server root, e.g. ``http://localhost:8000/v1`` (required).
        api_key: openai: bearer token.
        timeout: openai: request timeout in seconds.
        fallback: Wrap the backend in :class:`FallbackGenerator` so that an
            unavailable model or server degrades to the extractive answer.

    Returns:
        The generator; its ``name`` reports the backend actually in use.

    Raises:
        ValueError: For an unknown backend or missing/invalid settings.
        GeneratorUnavailable: When the backend is unavailable and ``fallback`` is off.
    """
    if backend == "extractive":
        return ExtractiveGenerator()
    if backend == "transformers":

        def load() -> Generator:
            return TransformersGenerator.from_pretrained(
                model,
                device=device,
                dtype=dtype,
                trust_remote_code=trust_remote_code,
                revision=revision,
                local_files_only=local_files_only,
            )
    elif backend == "openai":
        if not base_url or not model:
            raise ValueError(
                "the openai backend needs base_url (e.g. http://localhost:8000/v1) and "
                "model (the served model name); set TUWEN_LLM_BASE_URL and TUWEN_LLM_MODEL"
            )

        def load() -> Generator:
            return OpenAIGenerator(base_url, model, api_key=api_key, timeout=timeout)
    else:
        raise ValueError(f"unknown LLM backend {backend!r}; choose one of {BACKENDS}")
    if not fallback:
        return load()
    try:
        return FallbackGenerator(load())
    except GeneratorUnavailable as e:
        return FallbackGenerator(None, reason=str(e))
