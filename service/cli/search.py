"""``tuwen search`` (a text, optionally with a photo, filtered by attribute) and
``tuwen duplicates`` (the catalog's groups of variants)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager

from ingest.cli import EXIT_OK, CliError, add_store_options
from service.answering.filters import SEARCH_FILTER_FIELDS
from service.cli.options import settings_from


def add_search(sub: argparse._SubParsersAction) -> None:
    """Adds ``tuwen search``.

    Args:
        sub: The ``tuwen`` subcommands.
    """
    p = sub.add_parser("search", help="search the catalog by text, photo + text, and attributes")
    p.add_argument("text", help="product text; with --image, what should differ (e.g. 红色)")
    p.add_argument("-k", type=int, default=10, help="products to list (default 10)")
    p.add_argument("--image", help="a catalog file name or a photo's path: search like it")
    for field in SEARCH_FILTER_FIELDS:
        p.add_argument(
            f"--{field}", action="append", metavar="VALUE", help=f"only this {field} (repeatable)"
        )
    p.add_argument("--collapse", action="store_true", help="group variants into one result")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    add_store_options(p)
    p.set_defaults(func=cmd_search)


def add_duplicates(sub: argparse._SubParsersAction) -> None:
    """Adds ``tuwen duplicates``.

    Args:
        sub: The ``tuwen`` subcommands.
    """
    p = sub.add_parser("duplicates", help="groups of near-identical photos in the catalog")
    p.add_argument(
        "--image-min", type=float, help="least image-vector cosine (TUWEN_VARIANT_IMAGE_MIN)"
    )
    p.add_argument(
        "--look-min", type=float, help="least look-vector cosine (TUWEN_VARIANT_LOOK_MIN)"
    )
    p.add_argument(
        "--store",
        action="store_true",
        help="write each photo's group to its `variant` payload key: collapse=true then groups "
        "with Qdrant's grouping",
    )
    p.add_argument("--json", action="store_true", help="print the groups as JSON")
    add_store_options(p)
    p.set_defaults(func=cmd_duplicates)


@contextmanager
def _retriever(args: argparse.Namespace) -> Iterator:
    from ingest.models.roles import encoders_for
    from ingest.store import open_store
    from service.answering.retrieve import Retriever

    settings = settings_from(args)
    with open_store(settings) as store:
        store.require()
        yield Retriever(
            store,
            encoders_for(settings, store).query,
            look=settings.look,
            agreement=settings.attribute_agreement,
            likelihood=settings.attribute_likelihood,
        )


def cmd_search(args: argparse.Namespace) -> int:
    """Prints the best products, one a line (file, score, caption), or as JSON.

    Raises:
        CliError: ``-k`` below 1 or a filter value that cannot be read.
    """
    from service.answering.composed import search_composed
    from service.answering.filters import canonical_filters
    from service.answering.variants import collapse, search_collapsed, thresholds

    if args.k < 1:
        raise CliError(f"-k must be at least 1, got {args.k}")
    with _retriever(args) as retriever:
        wanted = {f: getattr(args, f) for f in SEARCH_FILTER_FIELDS if getattr(args, f)}
        filters = canonical_filters(wanted, retriever.lexicon)
        limits = thresholds(settings_from(args))
        groups = None
        if args.image:
            query = retriever.resolve_image(args.image)
            hits = search_composed(retriever, query, args.text, args.k, filters=filters)
            if args.collapse:
                groups = collapse(retriever.store, hits, **limits)
        elif args.collapse:
            groups = search_collapsed(retriever, args.text, args.k, filters=filters, **limits)
            hits = [g.lead for g in groups]
        else:
            hits = retriever.search(args.text, args.k, exact_first=True, filters=filters)
    rows = [{"image": h.file, "score": h.score, "caption": h.caption, "variants": []} for h in hits]
    if groups is not None:
        rows = [
            {
                "image": g.lead.file,
                "score": g.lead.score,
                "caption": g.lead.caption,
                "variants": [m.file for m in g.members],
            }
            for g in groups
        ]
    if args.json:
        print(json.dumps({"query": args.text, "results": rows}, ensure_ascii=False, indent=2))
        return EXIT_OK
    for r in rows:
        more = f"  (+{', '.join(r['variants'])})" if r["variants"] else ""
        print(f"{r['image']}  {r['score']:.3f}  {r['caption'] or ''}{more}")
    return EXIT_OK


def cmd_duplicates(args: argparse.Namespace) -> int:
    """Prints the catalog's groups of variants, one group a line, largest first; with
    ``--store``, writes each photo's group to its ``variant`` payload key."""
    from ingest.store import open_store
    from ingest.variants import duplicate_groups, store_groups, thresholds

    settings = settings_from(args)
    limits = thresholds(settings)
    if args.image_min is not None:
        limits["image_min"] = args.image_min
    if args.look_min is not None:
        limits["look_min"] = args.look_min
    with open_store(settings) as store:
        store.require()
        groups = duplicate_groups(store, **limits)
        written = store_groups(store, groups, **limits) if args.store else None
    if args.json:
        out = {"groups": groups} | ({"keys_written": written} if args.store else {})
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return EXIT_OK
    for g in groups:
        print(" ".join(g))
    print(f"{len(groups)} groups, {sum(len(g) for g in groups)} photos")
    if args.store:
        print(f"variant keys written to {written} points")
    return EXIT_OK
