"""The generation backend the settings name, wrapped so that it recovers from failures."""

from __future__ import annotations

from collections.abc import Callable

from ingest.settings import LLM_BACKENDS, Settings
from service.generation.base import Generator
from service.generation.recovering import RecoveringGenerator

__all__ = ["BACKENDS", "generator_from", "load_backend", "resolve_backend"]

#: The backend names (``auto`` resolves to one of the others; see :func:`resolve_backend`).
BACKENDS: tuple[str, ...] = LLM_BACKENDS


def resolve_backend(settings: Settings, backend: str | None = None) -> str:
    """The concrete backend: ``backend`` (else ``settings.llm``) with ``auto`` resolved.

    ``auto`` is ``openai`` when ``llm_base_url`` is set, ``transformers`` when ``llm_model``
    is, else ``extractive``.

    Raises:
        ValueError: For a name outside :data:`BACKENDS`.
    """
    name = backend or settings.llm
    if name not in BACKENDS:
        raise ValueError(f"unknown LLM backend {name!r} (TUWEN_LLM); choose one of {BACKENDS}")
    if name == "auto":
        return settings.model_copy(update={"llm": "auto"}).llm_backend()
    return name


def _loader(name: str, settings: Settings) -> tuple[Callable[[], Generator], str]:
    """A function loading backend ``name`` and its name in words before it loads.

    With ``llm_vision`` on, ``transformers`` is an image-text-to-text model
    (:class:`~service.generation.vlm_chat.VlmGenerator`) and ``openai`` sends the photo.
    """
    if name == "transformers" and settings.llm_vision:
        from service.generation.vlm_chat import VlmGenerator, default_vlm_id

        def load_vlm() -> Generator:
            return VlmGenerator.from_pretrained(
                settings.llm_model,
                device=settings.device,
                dtype=settings.dtype,
                trust_remote_code=settings.llm_trust_remote_code,
                revision=settings.llm_revision,
                image_side=settings.llm_image_side,
            )

        source = settings.llm_model or default_vlm_id(settings.device)
        return load_vlm, f"transformers-vision:{source}"
    if name == "transformers":
        from service.generation.transformers_chat import TransformersGenerator, default_model_id

        def load_transformers() -> Generator:
            return TransformersGenerator.from_pretrained(
                settings.llm_model,
                device=settings.device,
                dtype=settings.dtype,
                trust_remote_code=settings.llm_trust_remote_code,
                revision=settings.llm_revision,
            )

        source = settings.llm_model or default_model_id(settings.device)
        return load_transformers, f"transformers:{source}"
    if name == "openai":
        from service.generation.openai_chat import OpenAIGenerator

        if not settings.llm_base_url or not settings.llm_model:
            raise ValueError(
                "the openai backend needs TUWEN_LLM_BASE_URL (the server root, e.g. "
                "http://localhost:8000/v1) and TUWEN_LLM_MODEL (the served model name)"
            )
        url, model = settings.llm_base_url, settings.llm_model
        generator = OpenAIGenerator(
            url,
            model,
            api_key=settings.llm_api_key,
            vision=settings.llm_vision,
            image_side=settings.llm_image_side,
        )
        return (lambda: generator), generator.name
    raise ValueError(f"{name!r} is not a model backend; choose transformers or openai")


def load_backend(settings: Settings, backend: str | None = None) -> Generator | None:
    """The backend itself, loaded now, without recovery (benchmarks, one-off scripts).

    Returns:
        The generator, or ``None`` for ``extractive`` (no language model).

    Raises:
        ValueError: For an unknown backend or missing settings.
        GeneratorUnavailable: When the backend cannot be loaded.
    """
    name = resolve_backend(settings, backend)
    return None if name == "extractive" else _loader(name, settings)[0]()


def generator_from(settings: Settings, backend: str | None = None) -> Generator | None:
    """The generation backend the settings name, as a :class:`RecoveringGenerator`.

    Args:
        settings: ``llm*`` settings, ``device`` and ``dtype``.
        backend: Overrides ``settings.llm``.

    Returns:
        ``None`` for ``extractive``: answers are composed from the captions without a model.
        With ``llm_vision`` the generator declares ``vision = True`` (it takes the photo).
        Otherwise a generator that loads the backend now and, when loading or a call fails,
        raises :class:`~service.generation.base.GeneratorUnavailable` and backs off for
        ``llm_retry_s`` (doubling up to ``llm_retry_max_s``) before it tries again.

    Raises:
        ValueError: For an unknown backend or missing/invalid settings.
    """
    name = resolve_backend(settings, backend)
    if name == "extractive":
        return None
    load, label = _loader(name, settings)
    return RecoveringGenerator(
        load,
        label=label,
        retry_s=settings.llm_retry_s,
        retry_max_s=settings.llm_retry_max_s,
        vision=settings.llm_vision,
    )
