"""``tuwen ingest`` (a catalog into the store, locally or ``--via`` a server) and
``tuwen stats`` (what the collection holds)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ingest.cli.base import (
    EXIT_OK,
    EXIT_PARTIAL,
    SETTING_FLAGS,
    CliError,
    add_store_options,
    settings_from,
)

log = logging.getLogger("tuwen")


def add_ingest(sub: argparse._SubParsersAction) -> None:
    """Adds ``tuwen ingest``.

    Args:
        sub: The ``tuwen`` subcommands.
    """
    p = sub.add_parser("ingest", help="index a folder of photos and a caption CSV into Qdrant")
    p.add_argument("images_dir", type=Path, help="folder of product photos (subfolders are walked)")
    p.add_argument("--captions", type=Path, help="caption CSV with image,text columns")
    p.add_argument("--prune", action="store_true", help="remove points whose photo is gone")
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="index only share I of N of the catalog (by point id), so N workers can ingest "
        "one catalog into one server collection; --prune then prunes only that share",
    )
    p.add_argument(
        "--batch-size", type=int, help="images per model call and upsert (TUWEN_BATCH_SIZE)"
    )
    p.add_argument(
        "--workers", type=int, help="decode processes, 0 = one per core (TUWEN_DECODE_WORKERS)"
    )
    p.add_argument("--report", type=Path, help="write the run's report as JSON here")
    p.add_argument(
        "--via", metavar="URL", help="send new/changed products to a running `tuwen serve` at URL"
    )
    p.add_argument(
        "--caption-uncaptioned",
        action="store_true",
        help="give photos without a caption a generated caption and predicted attributes",
    )
    p.add_argument(
        "--caption-model",
        metavar="ID_OR_DIR",
        help="captioning model for --caption-uncaptioned (TUWEN_CAPTION_MODEL); default: "
        "the CLIP model's answer heads",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_store_options(p)
    p.set_defaults(func=cmd_ingest)


def add_stats(sub: argparse._SubParsersAction) -> None:
    """Adds ``tuwen stats``.

    Args:
        sub: The ``tuwen`` subcommands.
    """
    p = sub.add_parser("stats", help="what the collection holds")
    p.add_argument("--json", action="store_true", help="one JSON object")
    add_store_options(p)
    p.set_defaults(func=cmd_stats)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Indexes a catalog: new and changed photos are embedded and written, the rest skipped.

    Args:
        args: The parsed ``tuwen ingest`` command line.

    Returns:
        ``EXIT_OK``, or ``EXIT_PARTIAL`` when some photos failed (the report lists them).
    """
    from ingest.atomic import write_json_atomic
    from ingest.catalog import load_catalog

    settings = settings_from(args, {**SETTING_FLAGS, "caption_model": "caption_model"})
    if args.via and args.caption_uncaptioned:
        raise CliError(
            "--caption-uncaptioned runs where the store is: drop --via, or stop the server "
            "and ingest into its data dir"
        )
    if args.caption_model and not args.caption_uncaptioned:
        raise CliError("--caption-model is the captioner of --caption-uncaptioned: add that flag")
    shard = None
    if args.shard:
        from ingest.shards import Shard

        if args.via:
            raise CliError("--shard writes to the store directly: drop --via")
        try:
            shard = Shard.parse(args.shard)
        except ValueError as e:
            raise CliError(str(e)) from None
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
    if args.via:
        import httpx

        from ingest.remote import push_catalog

        key = settings.api_key.get_secret_value() if settings.api_key else None
        auth = {"Authorization": f"Bearer {key}"} if key else {}
        with httpx.Client(base_url=args.via, timeout=300, headers=auth) as client:
            report = push_catalog(
                catalog,
                client,
                prune=args.prune,
                batch_size=min(settings.batch_size, 64),
                progress=not args.quiet,
            )
    else:
        from ingest.job import run_ingest
        from ingest.models.roles import encoders_for
        from ingest.store import open_store

        with open_store(settings) as store:
            photos = [item.path for item in catalog.items]  # may calibrate an int8 tower
            encoder = encoders_for(settings, store, lazy=True, calibration=photos).document
            captioner = None
            if args.caption_uncaptioned:
                from ingest.captioners import captioner_from

                model = encoder.fingerprint.model
                captioner = captioner_from(settings.caption_model, model, encoder, settings)
            report = run_ingest(
                catalog,
                store,
                encoder,
                prune=args.prune,
                batch_size=settings.batch_size,
                workers=settings.decode_workers,
                progress=not args.quiet,
                captioner=captioner,
                shard=shard,
            )
    print(report.summary())
    if args.report:
        write_json_atomic(Path(args.report), report.to_json())
    return EXIT_PARTIAL if report.failed else EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    """Prints the collection's point counts, model fingerprint and location.

    Args:
        args: The parsed ``tuwen stats`` command line.

    Returns:
        ``EXIT_OK``.
    """
    from ingest.store import open_store

    settings = settings_from(args)
    with open_store(settings) as store:
        fp = store.stored_fingerprint()
        stats = {
            "points": store.count(),
            "captioned": store.count(captioned_only=True),
            "generated": store.count(generated_only=True),
            "model": fp.to_dict() if fp else None,
            "collection": store.collection,
            "store": "qdrant-server" if settings.qdrant_url else "qdrant-edge",
            "data_dir": None if settings.qdrant_url else str(Path(settings.data_dir).resolve()),
            "qdrant_url": settings.qdrant_url,
            "storage": f"quantization {store.config.quantization}, on disk {store.config.on_disk}",
        }
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
    else:
        for k, v in stats.items():
            if isinstance(v, dict):
                v = f"{v['model']} (revision {v['revision']}, dim {v['dim']})"
            print(f"{k:>11}: {v}")
    return EXIT_OK
