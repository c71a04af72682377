"""Answer generation: one streaming interface, a module per backend, recovery from failures.

- :mod:`~service.generation.transformers_chat`: a local chat model (GLM by default).
- :mod:`~service.generation.openai_chat`: any OpenAI-compatible server, over SSE; with vision
  on, the questioned photo goes along as an ``image_url`` part.
- :mod:`~service.generation.vlm_chat`: a local vision-language model (Qwen2-VL, LLaVA, ...).
- :mod:`~service.generation.vision`: the photo downscaled, encoded and placed in the chat.
- :mod:`~service.generation.streaming`: ``generate`` in a thread, streamed (local models).
- :mod:`~service.generation.recovering`: backs off after a failure and tries again.
- :mod:`~service.generation.factory`: the backend the settings name (``None`` = extractive).

The backends import torch/transformers or httpx only when used.
"""

from service.generation.base import (
    Generator,
    GeneratorUnavailable,
    VisionGenerator,
    generate,
    sees_images,
)
from service.generation.factory import BACKENDS, generator_from, load_backend, resolve_backend
from service.generation.recovering import RecoveringGenerator

__all__ = [
    "BACKENDS",
    "Generator",
    "GeneratorUnavailable",
    "RecoveringGenerator",
    "VisionGenerator",
    "generate",
    "generator_from",
    "load_backend",
    "resolve_backend",
    "sees_images",
]
