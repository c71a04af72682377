"""The option groups of the answering commands: the store options every command shares,
and the one set of generation options every command that answers takes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ingest.cli import SETTING_FLAGS, add_store_options
from ingest.cli import settings_from as _settings_from
from service.generation.factory import BACKENDS

if TYPE_CHECKING:
    from ingest.settings import Settings

__all__ = ["GENERATION_FLAGS", "add_answering_options", "settings_from"]

GENERATION_FLAGS: dict[str, str] = {
    "llm": "llm",
    "llm_model": "llm_model",
    "llm_base_url": "llm_base_url",
    "llm_vision": "llm_vision",
}
"""Generation option destinations → the settings they override."""


def add_answering_options(parser: argparse.ArgumentParser) -> None:
    """Adds the store options and the generation options (``--llm``, ``--llm-model``,
    ``--llm-base-url``, ``--llm-vision``) to a command that answers questions.

    Args:
        parser: The command's parser.
    """
    add_store_options(parser)
    g = parser.add_argument_group("generation (default: the matching TUWEN_ variables)")
    g.add_argument("--llm", choices=BACKENDS, help="generation backend (TUWEN_LLM)")
    g.add_argument(
        "--llm-model", help="GLM hub id / local dir, or the served model name (TUWEN_LLM_MODEL)"
    )
    g.add_argument("--llm-base-url", help="OpenAI-compatible server root (TUWEN_LLM_BASE_URL)")
    g.add_argument(
        "--llm-vision",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the model sees the questioned photo (TUWEN_LLM_VISION)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by the store and generation options given.

    Args:
        args: The parsed command line.

    Returns:
        The settings.

    Raises:
        CliError: When a value is invalid.
    """
    return _settings_from(args, {**SETTING_FLAGS, **GENERATION_FLAGS})
