"""The generation interface: chat messages in, answer text out in pieces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

__all__ = ["Generator", "GeneratorUnavailable", "generate"]


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


def generate(
    generator: Generator, messages: list[dict[str, str]], max_new_tokens: int = 256
) -> str:
    """Runs a generator to the end and joins its pieces.

    Args:
        generator: Any :class:`Generator`.
        messages: Chat messages.
        max_new_tokens: Upper bound on generated tokens.

    Returns:
        The whole answer.

    Raises:
        GeneratorUnavailable: When the backend cannot answer.
    """
    return "".join(generator.stream(messages, max_new_tokens))
