"""What every ``tuwen`` command shares: exit codes, one-line errors, the store options and
the settings those options override."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.settings import Settings

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
"""Success; a fatal error; a usage error (argparse's own); some items failed."""

SETTING_FLAGS: Mapping[str, str] = {
    "clip_model": "clip_model",
    "data_dir": "data_dir",
    "qdrant_url": "qdrant_url",
    "collection": "collection",
    "batch_size": "batch_size",
    "workers": "decode_workers",
}
"""Option destinations → the :class:`~ingest.settings.Settings` fields they override."""


class CliError(RuntimeError):
    """A fatal error to print as one line (no traceback) before exiting non-zero."""


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """Adds the options that choose the store and the CLIP model, and ``--verbose``.

    Args:
        parser: A command's parser.
    """
    g = parser.add_argument_group("store and model (default: the matching TUWEN_ variables)")
    g.add_argument("--clip-model", help="CLIP hub id or local directory (TUWEN_CLIP_MODEL)")
    g.add_argument("--data-dir", type=Path, help="embedded store directory (TUWEN_DATA_DIR)")
    g.add_argument(
        "--qdrant-url", help="Qdrant server URL instead of the embedded store (TUWEN_QDRANT_URL)"
    )
    g.add_argument("--collection", help="collection name (TUWEN_COLLECTION)")
    g.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def settings_from(args: argparse.Namespace, flags: Mapping[str, str] = SETTING_FLAGS) -> Settings:
    """Settings from the environment, overridden by the options given.

    Args:
        args: The parsed command line.
        flags: Option destinations → setting names; options absent or unset are skipped.

    Returns:
        The settings.

    Raises:
        CliError: When a value is invalid (the message names the setting).
    """
    from pydantic import ValidationError

    from ingest.settings import Settings

    overrides = {}
    for flag, key in flags.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise CliError(f"invalid setting: {e}") from e
