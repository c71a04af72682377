"""``tuwen serve``: the HTTP API and the web page."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ingest.cli import EXIT_OK, CliError
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
    p.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve a non-loopback --host without TUWEN_API_KEY (anyone who reaches the port "
        "can change the catalog)",
    )
    add_answering_options(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serves until interrupted.

    Args:
        args: The parsed ``tuwen serve`` command line.

    Returns:
        ``EXIT_OK`` once the server stops.

    Raises:
        CliError: For a non-loopback ``--host`` without ``TUWEN_API_KEY`` or
            ``--allow-unauthenticated``.
    """
    from service.http.auth import is_loopback

    settings = settings_from(args)
    if args.images:
        settings = settings.model_copy(update={"images_dir": args.images})
    if settings.api_key is None and not is_loopback(args.host):
        if not args.allow_unauthenticated:
            raise CliError(
                f"refusing to serve {args.host} without an API key: anyone who reaches the port "
                "could change the catalog. Set TUWEN_API_KEY (writes then need "
                "`Authorization: Bearer <key>`), bind 127.0.0.1, or pass --allow-unauthenticated"
            )
        print(
            f"tuwen serve: warning: {args.host} without TUWEN_API_KEY: writes are open",
            file=sys.stderr,
        )

    import uvicorn

    from service.http.app import create_app

    if not args.verbose:
        logging.getLogger("service.http").setLevel(logging.INFO)  # start-up reconciliation
    print(
        f"tuwen serving on http://{args.host}:{args.port}/ (store: "
        f"{settings.qdrant_url or Path(settings.data_dir).resolve()})",
        file=sys.stderr,
    )
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
    return EXIT_OK
