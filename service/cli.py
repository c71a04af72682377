"""The ``tuwen`` command line: ``main(argv)`` so it runs in-process in tests."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

log = logging.getLogger("tuwen")


class CliError(RuntimeError):
    """A fatal error to print as one line (no traceback) before exiting non-zero."""


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("store and model (default: the matching TUWEN_ variables)")
    g.add_argument("--clip-model", help="CLIP hub id or local directory (TUWEN_CLIP_MODEL)")
    g.add_argument("--data-dir", type=Path, help="embedded store directory (TUWEN_DATA_DIR)")
    g.add_argument(
        "--qdrant-url", help="Qdrant server URL instead of the embedded store (TUWEN_QDRANT_URL)"
    )
    g.add_argument("--collection", help="collection name (TUWEN_COLLECTION)")
    g.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def settings_from(args: argparse.Namespace):
    """Settings from the environment, overridden by the flags given."""
    from pydantic import ValidationError

    from ingest.settings import Settings

    overrides = {}
    for flag, key in (
        ("clip_model", "clip_model"),
        ("data_dir", "data_dir"),
        ("qdrant_url", "qdrant_url"),
        ("collection", "collection"),
        ("batch_size", "batch_size"),
        ("workers", "decode_workers"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise CliError(f"invalid setting: {e}") from e


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.atomic import write_json_atomic
    from ingest.catalog import load_catalog
    from ingest.encoders import ClipEncoder
    from ingest.job import run_ingest
    from ingest.store import open_store

    settings = settings_from(args)
    catalog = load_catalog(args.images_dir, args.captions)
    notes = catalog.warnings()
    for w in notes[:10]:
        log.warning("%s", w)
    if len(notes) > 10:
        log.warning("... and %d more notes about %s", len(notes) - 10, args.captions)
    print(
        f"catalog: {len(catalog.items)} photos, {catalog.captioned} with captions"
        + (f" ({catalog.encoding})" if catalog.encoding else ""),
        file=sys.stderr,
    )
    encoder = ClipEncoder.from_pretrained(
        settings.clip_model,
        revision=settings.clip_revision,
        device=settings.device,
        dtype=settings.dtype,
    )
    with open_store(settings) as store:
        report = run_ingest(
            catalog,
            store,
            encoder,
            prune=args.prune,
            batch_size=settings.batch_size,
            workers=settings.decode_workers,
            progress=not args.quiet,
        )
    print(report.summary())
    if args.report:
        write_json_atomic(Path(args.report), report.to_json())
    return EXIT_PARTIAL if report.failed else EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from ingest.store import open_store

    settings = settings_from(args)
    with open_store(settings) as store:
        fp = store.stored_fingerprint()
        stats = {
            "points": store.count(),
            "captioned": store.count(captioned_only=True),
            "model": fp.to_dict() if fp else None,
            "collection": store.collection,
            "store": "qdrant-server" if settings.qdrant_url else "qdrant-edge",
            "data_dir": None if settings.qdrant_url else str(Path(settings.data_dir).resolve()),
            "qdrant_url": settings.qdrant_url,
        }
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
    else:
        for k, v in stats.items():
            if isinstance(v, dict):
                v = f"{v['model']} (revision {v['revision']}, dim {v['dim']})"
            print(f"{k:>11}: {v}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuwen",
        description="tuwen (图文): questions about a product photo catalog, answered with cited images.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="index a folder of photos and a caption CSV into Qdrant")
    p.add_argument("images_dir", type=Path, help="folder of product photos (subfolders are walked)")
    p.add_argument("--captions", type=Path, help="caption CSV with image,text columns")
    p.add_argument("--prune", action="store_true", help="remove points whose photo is gone")
    p.add_argument(
        "--batch-size", type=int, help="images per model call and upsert (TUWEN_BATCH_SIZE)"
    )
    p.add_argument(
        "--workers", type=int, help="decode processes, 0 = one per core (TUWEN_DECODE_WORKERS)"
    )
    p.add_argument("--report", type=Path, help="write the run's report as JSON here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _common(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("stats", help="what the collection holds")
    p.add_argument("--json", action="store_true", help="one JSON object")
    _common(p)
    p.set_defaults(func=cmd_stats)
    return parser


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
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    _quiet_libraries()
    from ingest.catalog import CatalogError
    from ingest.encoders import ModelNotFound
    from ingest.store import StoreError

    try:
        return args.func(args)
    except (CliError, CatalogError, ModelNotFound, StoreError) as e:
        print(f"tuwen {args.command}: error: {e}", file=sys.stderr)
        return EXIT_FATAL
    except KeyboardInterrupt:
        print(f"tuwen {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
