"""A local vision-language model through transformers (``AutoModelForImageTextToText`` +
``AutoProcessor``): the questioned photo and the prompt in, the answer streamed out.

Any image-text-to-text model transformers knows loads this way: Qwen2-VL / Qwen2.5-VL,
GLM-4.1V, LLaVA, BLIP-2 and InstructBLIP. Models whose processor has a chat template get the
conversation through it, the photo as an image part of the last user message; the others
(BLIP-2, InstructBLIP) get the messages' text as one prompt beside the photo.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ingest.models.device import resolve_device
from ingest.models.fingerprint import ModelNotFound
from ingest.models.vlm import fit_longest_side, load_image_text_to_text, to_device
from service.generation.base import GeneratorUnavailable
from service.generation.streaming import stream_generate
from service.generation.vision import hf_messages

if TYPE_CHECKING:
    from PIL import Image

GPU_DEFAULT_VLM = "Qwen/Qwen2.5-VL-7B-Instruct"
CPU_DEFAULT_VLM = "Qwen/Qwen2-VL-2B-Instruct"

__all__ = ["CPU_DEFAULT_VLM", "GPU_DEFAULT_VLM", "VlmGenerator", "default_vlm_id"]


def default_vlm_id(device: str = "auto") -> str:
    """The default vision-language model: Qwen2.5-VL-7B on CUDA, Qwen2-VL-2B on CPU.

    Raises:
        ValueError: For a device outside ``auto``, ``cpu``, ``cuda[:N]``.
    """
    return GPU_DEFAULT_VLM if resolve_device(device).startswith("cuda") else CPU_DEFAULT_VLM


class VlmGenerator:
    """A vision-language model run with transformers; it sees the questioned photo.

    Args:
        model: A loaded image-text-to-text model (already on its device).
        processor: Its processor (image processor + tokenizer, usually a chat template).
        name: Backend name; default ``transformers-vision:<model name_or_path>``.
        image_side: Photos are scaled down to this longest side before the processor sees
            them (``TUWEN_LLM_IMAGE_SIDE``): it bounds the image tokens of dynamic-resolution
            models such as Qwen2-VL.
        timeout: Seconds to wait for the next piece before giving up.
        generation_kwargs: Extra ``generate`` arguments; default greedy decoding.

    Raises:
        ValueError: When ``image_side`` is not positive.
    """

    vision = True

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        name: str | None = None,
        image_side: int = 768,
        timeout: float = 300.0,
        generation_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if image_side < 1:
            raise ValueError(f"image_side (TUWEN_LLM_IMAGE_SIDE) must be positive: {image_side}")
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        source = getattr(model, "name_or_path", type(model).__name__)
        self.name = name or f"transformers-vision:{source}"
        self.image_side = image_side
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
        image_side: int = 768,
    ) -> VlmGenerator:
        """Loads a vision-language model from a hub id or a local directory.

        Args:
            model_id_or_dir: Hub id or directory; default :func:`default_vlm_id`.
            device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``.
            dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``; ``auto`` follows
                :func:`ingest.models.device.pick_dtype`.
            trust_remote_code: Run the model repository's own code; only with ``revision``
                pinned to a commit.
            revision: Hub revision; a 40-hex commit when ``trust_remote_code``.
            local_files_only: Never download; default: true when the hub is switched off.
            image_side: See :class:`VlmGenerator`.

        Raises:
            ValueError: For a bad device/dtype, or remote code without a pinned commit.
            GeneratorUnavailable: When the model cannot be found or loaded.
        """
        resolved = resolve_device(device)
        source = str(model_id_or_dir) if model_id_or_dir is not None else default_vlm_id(resolved)
        try:
            processor, model = load_image_text_to_text(
                source,
                device=resolved,
                dtype=dtype,
                revision=revision,
                trust_remote_code=trust_remote_code,
                local_files_only=local_files_only,
                setting="TUWEN_LLM_MODEL",
            )
        except ModelNotFound as e:
            raise GeneratorUnavailable(str(e)) from e
        return cls(model, processor, name=f"transformers-vision:{source}", image_side=image_side)

    def inputs(
        self, messages: list[dict[str, str]], image: Image.Image | None = None
    ) -> dict[str, Any]:
        """The model inputs for a chat and a photo, on the model's device.

        With a chat template the conversation is rendered through it (the photo as the first
        part of the last user message); without one the messages' texts are joined into one
        prompt. Floating inputs (pixel values) take the model's dtype.
        """
        photo = fit_longest_side(image, self.image_side) if image is not None else None
        if getattr(self.processor, "chat_template", None):
            text = self.processor.apply_chat_template(
                hf_messages(messages, photo is not None), add_generation_prompt=True, tokenize=False
            )
        else:
            text = "\n\n".join(m["content"] for m in messages)
        kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt"}
        if photo is not None:
            kwargs["images"] = [photo]
        return to_device(self.processor(**kwargs), self.model)

    def stream(
        self,
        messages: list[dict[str, str]],
        max_new_tokens: int = 256,
        image: Image.Image | None = None,
    ) -> Iterator[str]:
        """Yields decoded text pieces as the model generates them (greedy by default).

        Closing the iterator stops generation at the next token.

        Args:
            messages: Chat messages.
            max_new_tokens: Upper bound on generated tokens.
            image: The questioned photo, or ``None`` to answer from the text alone.

        Raises:
            GeneratorUnavailable: When the inputs cannot be built, or generation fails or
                stalls for ``timeout`` seconds.
        """
        try:
            inputs = self.inputs(messages, image)
        except (ValueError, TypeError, KeyError) as e:
            raise GeneratorUnavailable(f"{self.name} cannot take this chat: {e}") from e
        yield from stream_generate(
            self.model,
            self.tokenizer,
            inputs,
            max_new_tokens=max_new_tokens,
            generation_kwargs=self.generation_kwargs,
            timeout=self.timeout,
            name=self.name,
        )
