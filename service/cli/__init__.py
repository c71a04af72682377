"""The ``tuwen`` command line: ``main(argv)`` runs in-process (tests call it directly).

The write-path commands (``ingest``, ``stats``, ``finetune``) live in :mod:`ingest.cli`;
the answering commands in :mod:`service.cli.ask` and :mod:`service.cli.serve`. Every
command that answers takes the same generation options (:mod:`service.cli.options`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ingest.cli import EXIT_FATAL, CliError, add_finetune, add_ingest, add_stats
from service.cli.ask import add_answer, add_ask, add_eval, add_questions
from service.cli.search import add_duplicates, add_search
from service.cli.serve import add_serve

__all__ = ["build_parser", "main"]

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT)."""


def build_parser() -> argparse.ArgumentParser:
    """The ``tuwen`` parser with every subcommand.

    Returns:
        The parser; each subcommand sets ``func`` to the function that runs it.
    """
    parser = argparse.ArgumentParser(
        prog="tuwen",
        description="tuwen (图文): questions about a product photo catalog, answered with cited images.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        add_ingest,
        add_stats,
        add_ask,
        add_answer,
        add_eval,
        add_finetune,
        add_questions,
        add_serve,
        add_search,
        add_duplicates,
    ):
        add(sub)
    return parser


def _fatal_errors() -> tuple[type[BaseException], ...]:
    """The errors a command reports as one line and exit status ``EXIT_FATAL``."""
    from ingest.catalog import CatalogError
    from ingest.models.fingerprint import ModelNotFound
    from ingest.remote import RemoteError
    from ingest.store import StoreError
    from service.answering.retrieve import ImageNotFound
    from service.generation import GeneratorUnavailable

    return (
        CliError,
        CatalogError,
        ModelNotFound,
        StoreError,
        ImageNotFound,
        GeneratorUnavailable,
        RemoteError,
    )


def _quiet_libraries() -> None:
    """Keep library chatter (weight-loading bars, hub notices) out of the command's output."""
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one ``tuwen`` command.

    Args:
        argv: The arguments after ``tuwen``; ``None`` reads ``sys.argv``.

    Returns:
        The exit status: 0 ok, 1 a fatal error (printed as one line), 2 a usage error,
        3 some items failed, 130 interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    _quiet_libraries()
    if not getattr(args, "quiet", False):
        # a model's first int8 export pauses for seconds: say so
        logging.getLogger("ingest.models.onnx_int8").setLevel(logging.INFO)
        logging.getLogger("ingest.models.openvino_int8").setLevel(logging.INFO)
    fatal = _fatal_errors()
    try:
        return args.func(args)
    except fatal as e:
        print(f"tuwen {args.command}: error: {e}", file=sys.stderr)
        return EXIT_FATAL
    except KeyboardInterrupt:
        print(f"tuwen {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
