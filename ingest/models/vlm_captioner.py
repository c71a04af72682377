"""Captions for uncaptioned photos from a vision-language model: a BLIP captioner
(``BlipForConditionalGeneration``) or any image-text-to-text chat model (Qwen2-VL, LLaVA,
GLM-4.1V), loaded the same way (:mod:`ingest.models.vlm`). Implements the
:class:`~ingest.captioning.Captioner` seam; the ingest job decides what is stored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ingest.captioning import Generated
from ingest.models.vlm import fit_longest_side, load_image_text_to_text, model_identity, to_device

__all__ = ["DEFAULT_INSTRUCTION", "VlmCaptioner", "clean_caption"]

#: What a chat model is asked for each photo (captioning models without a chat template,
#: such as BLIP, caption unprompted).
DEFAULT_INSTRUCTION = "用一句简短的中文描述图中商品：品牌、适用性别、颜色、风格和品类。"

_CJK = r"\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")


def clean_caption(text: str) -> str | None:
    """A generated caption on one line: spaces a word-piece decoder puts between Chinese
    characters removed, runs of whitespace collapsed; ``None`` when nothing is left."""
    text = _SPACE_BETWEEN_CJK.sub("", " ".join(text.split()))
    return text.strip() or None


class VlmCaptioner:
    """Proposes a caption per photo with a vision-language model, a batch per model call.

    Args:
        model: A loaded image-text-to-text model (on its device).
        processor: Its processor.
        name: The captioner's identity (stored with each caption it generates).
        batch_size: Photos per ``generate`` call.
        max_new_tokens: Longest caption, in tokens.
        instruction: What a chat model is asked (models with a chat template only).
        image_side: Photos are scaled down to this longest side first (it bounds the image
            tokens of dynamic-resolution models such as Qwen2-VL).

    Raises:
        ValueError: When ``batch_size``, ``max_new_tokens`` or ``image_side`` is below 1.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        name: str,
        batch_size: int = 8,
        max_new_tokens: int = 40,
        instruction: str = DEFAULT_INSTRUCTION,
        image_side: int = 768,
    ) -> None:
        for what, value in (
            ("batch_size", batch_size),
            ("max_new_tokens", max_new_tokens),
            ("image_side", image_side),
        ):
            if value < 1:
                raise ValueError(f"the captioner's {what} must be at least 1, got {value}")
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.name = name
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.instruction = instruction
        self.image_side = image_side
        self.chat = bool(getattr(processor, "chat_template", None))

    @classmethod
    def from_pretrained(
        cls,
        id_or_dir: str | os.PathLike[str],
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 8,
        revision: str | None = None,
        local_files_only: bool | None = None,
        max_new_tokens: int = 40,
        instruction: str = DEFAULT_INSTRUCTION,
    ) -> VlmCaptioner:
        """Loads a captioning or image-text-to-text model by hub id or local directory.

        Args:
            id_or_dir: Hub id (e.g. ``Salesforce/blip-image-captioning-base``,
                ``Qwen/Qwen2-VL-2B-Instruct``) or a local directory.
            device: ``auto``, ``cpu`` or ``cuda[:N]``.
            dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16`` (the shared policy).
            batch_size: Photos per model call.
            revision: Hub revision to pin.
            local_files_only: Never download; default: true when the hub is switched off.
            max_new_tokens: Longest caption, in tokens.
            instruction: What a chat model is asked.

        Returns:
            The captioner; its :attr:`name` is the model's resolved directory and content
            revision, or its hub id and commit.

        Raises:
            ValueError: For a bad device or dtype.
            ModelNotFound: When the model cannot be found or loaded; the message names
                ``--caption-model``.
        """
        source = str(id_or_dir)
        processor, model = load_image_text_to_text(
            source,
            device=device,
            dtype=dtype,
            revision=revision,
            local_files_only=local_files_only,
            setting="--caption-model",
        )
        return cls(
            model,
            processor,
            name=model_identity(source, model, revision),
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            instruction=instruction,
        )

    def caption(
        self, images: Sequence[Image.Image], image_vectors: np.ndarray | None = None
    ) -> list[Generated]:
        """One proposal per photo, in order (no attributes: the caption speaks for itself).

        Args:
            images: The decoded photos.
            image_vectors: Their CLIP vectors (unused: the model looks at the pixels).
        """
        out: list[Generated] = []
        for start in range(0, len(images), self.batch_size):
            batch = [
                fit_longest_side(im, self.image_side)
                for im in images[start : start + self.batch_size]
            ]
            out.extend(Generated(clean_caption(text)) for text in self._generate(batch))
        return out

    def _generate(self, photos: list[Image.Image]) -> list[str]:
        import torch

        kwargs: dict[str, Any] = {"images": photos, "return_tensors": "pt"}
        if self.chat:
            conversation = [
                {
                    "role": "user",
                    "content": [{"type": "image"}, {"type": "text", "text": self.instruction}],
                }
            ]
            text = self.processor.apply_chat_template(
                conversation, add_generation_prompt=True, tokenize=False
            )
            kwargs.update(text=[text] * len(photos), padding=True)
            self.tokenizer.padding_side = "left"  # decoder-only: the new tokens line up
        inputs = to_device(self.processor(**kwargs), self.model)
        options: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": False}
        pad = getattr(self.tokenizer, "pad_token_id", None)
        if self.chat:  # BLIP-style captioners set their own
            options["pad_token_id"] = pad if pad is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            ids = self.model.generate(**inputs, **options)
        prompt = inputs.get("input_ids")
        if self.chat and prompt is not None:
            ids = ids[:, prompt.shape[1] :]  # the chat prompt is echoed: keep the new tokens
        return list(self.tokenizer.batch_decode(ids, skip_special_tokens=True))
