"""A local chat model through transformers (``AutoModelForCausalLM`` + chat template), streamed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.models.device import check_remote_code, offline, pick_dtype, resolve_device
from service.generation.base import GeneratorUnavailable
from service.generation.streaming import stream_generate

GPU_DEFAULT_MODEL = "THUDM/glm-4-9b-chat-hf"
CPU_DEFAULT_MODEL = "THUDM/glm-edge-1.5b-chat"

__all__ = ["CPU_DEFAULT_MODEL", "GPU_DEFAULT_MODEL", "TransformersGenerator", "default_model_id"]


def default_model_id(device: str = "auto") -> str:
    """The default chat model for a device: GLM-4-9B on CUDA, GLM-Edge-1.5B on CPU.

    Args:
        device: ``auto``, ``cpu`` or ``cuda[:N]``.

    Returns:
        A hub id.

    Raises:
        ValueError: For a device outside those.
    """
    return GPU_DEFAULT_MODEL if resolve_device(device).startswith("cuda") else CPU_DEFAULT_MODEL


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
            dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``; ``auto`` follows
                :func:`ingest.models.device.pick_dtype`.
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
        check_remote_code(trust_remote_code, revision)
        resolved = resolve_device(device)
        torch_dtype = pick_dtype(dtype, resolved)
        source = str(model_id_or_dir) if model_id_or_dir is not None else default_model_id(resolved)
        no_downloads = offline() if local_files_only is None else local_files_only
        from transformers import AutoModelForCausalLM, AutoTokenizer

        common: dict[str, Any] = {
            "revision": revision,
            "trust_remote_code": trust_remote_code,
            "local_files_only": no_downloads,
        }
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **common)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **common)
        except (OSError, ValueError, ImportError) as e:
            if not Path(source).is_dir() and no_downloads:
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

    def stream(self, messages: list[dict[str, str]], max_new_tokens: int = 256) -> Iterator[str]:
        """Yields decoded text pieces as the model generates them (greedy by default).

        Closing the iterator stops generation at the next token.

        Args:
            messages: Chat messages, rendered with the tokenizer's chat template.
            max_new_tokens: Upper bound on generated tokens.

        Raises:
            GeneratorUnavailable: When generation fails or stalls for ``timeout`` seconds.
        """
        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        device = getattr(self.model, "device", "cpu")
        yield from stream_generate(
            self.model,
            self.tokenizer,
            {k: v.to(device) for k, v in inputs.items()},
            max_new_tokens=max_new_tokens,
            generation_kwargs=self.generation_kwargs,
            timeout=self.timeout,
            name=self.name,
        )
