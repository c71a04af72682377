"""The generation interface: chat messages (and, for a vision model, the photo) in, answer
text out in pieces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Generator", "GeneratorUnavailable", "VisionGenerator", "generate", "sees_images"]


class GeneratorUnavailable(RuntimeError):
    """A generation backend cannot be used (model missing, server unreachable, back-off, ...)."""


@runtime_checkable
class Generator(Protocol):
    """Streams an answer for chat messages.

    Attributes:
        name: The backend in words, e.g. ``"transformers:THUDM/glm-edge-1.5b-chat"``.
    """

    name: str

    def stream(self, messages: list[dict[str, str]], max_new_tokens: int = 256) -> Iterator[str]:
        """Yields the answer in pieces.

        Args:
            messages: ``{"role", "content"}`` chat messages.
            max_new_tokens: Upper bound on generated tokens.

        Raises:
            GeneratorUnavailable: When the backend cannot answer.
        """
        ...


@runtime_checkable
class VisionGenerator(Protocol):
    """A generator that also looks at the questioned photo.

    Attributes:
        name: The backend in words.
        vision: ``True``: :meth:`stream` takes ``image``.
    """

    name: str
    vision: bool

    def stream(
        self,
        messages: list[dict[str, str]],
        max_new_tokens: int = 256,
        image: Image.Image | None = None,
    ) -> Iterator[str]:
        """Yields the answer in pieces; ``image`` goes with the last user message.

        Args:
            messages: ``{"role", "content"}`` chat messages.
            max_new_tokens: Upper bound on generated tokens.
            image: The questioned photo (RGB), or ``None`` to answer from the text alone.

        Raises:
            GeneratorUnavailable: When the backend cannot answer.
        """
        ...


def sees_images(generator: Any) -> bool:
    """Whether ``generator`` declares ``vision = True`` (its ``stream`` takes ``image=``)."""
    return getattr(generator, "vision", False) is True


def generate(
    generator: Generator,
    messages: list[dict[str, str]],
    max_new_tokens: int = 256,
    image: Image.Image | None = None,
) -> str:
    """Runs a generator to the end and joins its pieces.

    Args:
        generator: Any :class:`Generator`.
        messages: Chat messages.
        max_new_tokens: Upper bound on generated tokens.
        image: The questioned photo, for a generator that :func:`sees_images`; ignored
            (not sent) for a text generator.

    Returns:
        The whole answer.

    Raises:
        GeneratorUnavailable: When the backend cannot answer.
    """
    if image is not None and sees_images(generator):
        return "".join(generator.stream(messages, max_new_tokens, image=image))
    return "".join(generator.stream(messages, max_new_tokens))
