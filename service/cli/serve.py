"""``tuwen serve``: the HTTP API and the web page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingest.cli import EXIT_OK
from service.cli.options import add_answering_options, settings_from


def add_serve(sub: argparse._SubParsersAction) -> None:
    """Adds ``tuwen serve``.

    Args:
        sub: The ``tuwen`` subcommands.
    """
    p = sub.add_parser("serve", help="the HTTP API and web page")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--images", type=Path, help="catalog folder whose photos are served (TUWEN_IMAGES_DIR)"
    )
    add_answering_options(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serves until interrupted.

    Args:
        args: The parsed ``tuwen serve`` command line.

    Returns:
        ``EXIT_OK`` once the server stops.
    """
    import uvicorn

    from service.http.app import create_app

    settings = settings_from(args)
    if args.images:
        settings = settings.model_copy(update={"images_dir": args.images})
    print(
        f"tuwen serving on http://{args.host}:{args.port}/ (store: "
        f"{settings.qdrant_url or Path(settings.data_dir).resolve()})",
        file=sys.stderr,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return EXIT_OK
