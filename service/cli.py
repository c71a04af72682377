"""The ``tuwen`` command line: ``main(argv)`` so it runs in-process in tests."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
LLM_CHOICES = ("auto", "transformers", "openai", "extractive")

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
    g.add_argument(
        "--llm-model", help="GLM hub id / local dir, or the served model name (TUWEN_LLM_MODEL)"
    )
    g.add_argument("--llm-base-url", help="OpenAI-compatible server root (TUWEN_LLM_BASE_URL)")
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
        ("llm_model", "llm_model"),
        ("llm_base_url", "llm_base_url"),
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
    from ingest.job import run_ingest
    from ingest.store import open_store
    from service.factory import encoder_for

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
    if args.via:
        import httpx

        from service.remote import push_catalog

        with httpx.Client(base_url=args.via, timeout=300) as client:
            report = push_catalog(
                catalog,
                client,
                prune=args.prune,
                batch_size=min(settings.batch_size, 64),
                progress=not args.quiet,
            )
        print(report.summary())
        if args.report:
            write_json_atomic(Path(args.report), report.to_json())
        return EXIT_PARTIAL if report.failed else EXIT_OK
    with open_store(settings) as store:
        encoder = encoder_for(settings, store, lazy=True)
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


def _read_json_list(path: Path, what: str) -> list:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as e:
        raise CliError(f"{path}: cannot read {what}: {e.strerror or e}") from e
    except json.JSONDecodeError as e:
        raise CliError(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from e
    if not isinstance(data, list):
        raise CliError(f"{path}: expected a JSON list of {what}, got {type(data).__name__}")
    return data


def cmd_ask(args: argparse.Namespace) -> int:
    from service.answer import Answer
    from service.factory import open_answerer

    settings = settings_from(args)
    with open_answerer(settings, args.llm) as answerer:
        result = None
        for item in answerer.stream(args.question, args.image):
            if isinstance(item, Answer):
                result = item
            elif not args.json:
                print(item, end="", flush=True)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return EXIT_OK
    print()
    for i, c in enumerate(result.citations, 1):
        print(f"  [{i}] {c.image}  {c.score:.3f}  {c.caption or ''}")
    t = result.timings
    print(
        f"  ({result.kind}, {result.backend}; "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in t.items())
        + ")"
    )
    return EXIT_OK


def cmd_answer(args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from ingest.atomic import write_json_atomic
    from service.factory import open_answerer

    queries = _read_json_list(args.query_json, "questions")
    for i, q in enumerate(queries):
        if not isinstance(q, dict) or not isinstance(q.get("question"), str):
            raise CliError(f'{args.query_json}: item {i} has no "question" string')
    settings = settings_from(args)
    out, failed = [], []
    t0 = time.perf_counter()
    with open_answerer(settings, args.llm) as answerer:
        for i, q in enumerate(tqdm(queries, unit="q", desc="answering", disable=args.quiet)):
            item = dict(q)
            try:
                a = answerer.ask(q["question"], q.get("related_image") or None)
                item["answer"] = a.answer
                item["kind"] = a.kind
                item["citations"] = [c.__dict__ for c in a.citations]
            except Exception as e:  # noqa: BLE001 - one bad question must not stop the batch
                item["answer"] = ""
                item["citations"] = []
                item["error"] = f"{type(e).__name__}: {e}"
                failed.append((i, item["error"]))
            out.append(item)
        backend = answerer.generator.name
    elapsed = time.perf_counter() - t0
    write_json_atomic(args.output, out)
    per_q = elapsed / max(1, len(queries)) * 1000
    print(
        f"answered {len(queries) - len(failed)}/{len(queries)} questions in {elapsed:.1f}s "
        f"({per_q:.1f} ms per question, backend {backend}) → {args.output}"
    )
    for i, err in failed[:20]:
        print(f"  question {i}: {err}", file=sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from service.evaluate import evaluate, format_metrics

    outputs = _read_json_list(args.out_json, "answers")
    truth = _read_json_list(args.truth, "truth entries")
    files = None
    if args.images:
        from ingest.catalog import walk_images

        files = set(walk_images(args.images))
        files |= {f.rsplit("/", 1)[-1] for f in files}
    try:
        metrics = evaluate(outputs, truth, catalog_files=files)
    except ValueError as e:
        raise CliError(str(e)) from e
    print(json.dumps(metrics, ensure_ascii=False) if args.json else format_metrics(metrics))
    return EXIT_OK


def cmd_questions(args: argparse.Namespace) -> int:
    from service.router import format_question_report, question_report

    items = _read_json_list(args.query_json, "questions")
    questions = [q["question"] if isinstance(q, dict) else str(q) for q in items]
    report = question_report(questions, args.k)
    print(
        json.dumps(report, ensure_ascii=False, indent=2)
        if args.json
        else format_question_report(report)
    )
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.api import create_app

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


def cmd_finetune(args: argparse.Namespace) -> int:
    import time

    started = time.monotonic()
    from ingest.training import FinetuneConfig, FinetuneError, finetune

    config = FinetuneConfig(
        images=args.images,
        captions=args.captions,
        out=args.out,
        base=args.base,
        from_scratch=args.from_scratch,
        size=args.size,
        image_size=args.image_size,
        epochs=args.epochs,
        minutes=args.minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        soft_targets=args.soft_targets,
        weight_decay=args.weight_decay,
        freeze=args.freeze,
        unfreeze_last=args.unfreeze_last,
        holdout=args.holdout,
        precision=args.precision,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        progress=not args.quiet,
        started=started,
    )
    try:
        result = finetune(config)
    except FinetuneError as e:
        raise CliError(str(e)) from e
    best = result.best
    h = best.heldout or best.train_probe or {}
    print(
        f"trained {result.records[-1].epoch} epochs in {result.seconds:.0f}s "
        f"(stopped by {result.stopped}); best epoch {best.epoch}: held-out "
        + ", ".join(
            f"{d} " + "/".join(f"{v:.3f}" for v in h[d].values()) for d in ("t2i", "i2t") if d in h
        )
        + f" (R@1/5/10) → {result.out}"
    )
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
    p.add_argument(
        "--via", metavar="URL", help="send new/changed products to a running `tuwen serve` at URL"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _common(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("stats", help="what the collection holds")
    p.add_argument("--json", action="store_true", help="one JSON object")
    _common(p)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("ask", help="answer one question, citing catalog images")
    p.add_argument("question")
    p.add_argument("--image", help="catalog file name or a photo's path")
    p.add_argument("--llm", choices=LLM_CHOICES, help="generation backend (TUWEN_LLM)")
    p.add_argument("--json", action="store_true", help="print the answer object as JSON")
    _common(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("answer", help="answer every question of a query.json")
    p.add_argument("query_json", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="answered JSON to write")
    p.add_argument("--llm", choices=LLM_CHOICES, help="generation backend (TUWEN_LLM)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _common(p)
    p.set_defaults(func=cmd_answer)

    p = sub.add_parser("eval", help="score answers against ground truth")
    p.add_argument("out_json", type=Path)
    p.add_argument(
        "--truth", type=Path, required=True, help="answers.json aligned with the questions"
    )
    p.add_argument("--images", type=Path, help="catalog folder: citations must name its files")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "finetune",
        help="train a CLIP model on a captioned catalog (pretrained base or from scratch)",
        description="Contrastive (InfoNCE) training of a Chinese-CLIP / AltCLIP / CLIP model on "
        "the captioned photos of a catalog. The output directory loads like a downloaded "
        "model (--clip-model OUT) and holds training.json with the held-out recall per epoch.",
    )
    p.add_argument("--images", type=Path, required=True, help="folder of product photos")
    p.add_argument("--captions", type=Path, required=True, help="caption CSV (image,text)")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--base", help="pretrained Chinese-CLIP / AltCLIP / CLIP: hub id or local dir")
    src.add_argument(
        "--from-scratch",
        action="store_true",
        help="a random small Chinese-CLIP with a vocabulary built from the captions",
    )
    p.add_argument(
        "--size",
        default="small",
        help="architecture for --from-scratch: tiny, mini, small (default), medium, base",
    )
    p.add_argument("--image-size", type=int, help="input pixels for --from-scratch")
    p.add_argument("--epochs", type=int, help="epoch limit (default 10 unless --minutes)")
    p.add_argument(
        "--minutes", type=float, help="wall-time limit, evaluation and final save included"
    )
    p.add_argument("--batch-size", type=int, default=128, help="pairs per step (default 128)")
    p.add_argument(
        "--lr",
        type=float,
        help="peak learning rate (default 1e-3 with --from-scratch, 1e-5 with --base)",
    )
    p.add_argument(
        "--soft-targets",
        type=float,
        metavar="W",
        help="share of each contrastive target given to captions like the pair's own "
        "(shared tokens), so photos of products with shared attributes end up close "
        "(default 0.5 with --from-scratch, 0 with --base)",
    )
    p.add_argument("--weight-decay", type=float, default=0.1, help="AdamW weight decay")
    p.add_argument(
        "--freeze",
        choices=("none", "vision", "text"),
        default="none",
        help="tower to freeze (default none)",
    )
    p.add_argument(
        "--unfreeze-last",
        type=int,
        default=0,
        metavar="N",
        help="the frozen tower's last N layers (and its final norm and projection) still "
        "train; with --freeze none, only the last N layers of each tower train",
    )
    p.add_argument(
        "--holdout", type=float, default=0.1, help="share held out for evaluation (default 0.1)"
    )
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="autocast dtype; auto: bf16/fp16 on CUDA, on CPU the faster of bf16 and fp32",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, help="CPU threads (default: measured at the start)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("questions", help="question kinds and clusters of a query.json")
    p.add_argument("query_json", type=Path)
    p.add_argument("-k", type=int, help="number of clusters (default: chosen from the data)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_questions)

    p = sub.add_parser("serve", help="the HTTP API and web page")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--images", type=Path, help="catalog folder whose photos are served (TUWEN_IMAGES_DIR)"
    )
    _common(p)
    p.set_defaults(func=cmd_serve)
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
    if not getattr(args, "quiet", False):
        # a model's first int8 export pauses for seconds: say so
        logging.getLogger("ingest.onnx_int8").setLevel(logging.INFO)
    from ingest.catalog import CatalogError
    from ingest.encoders import ModelNotFound
    from ingest.store import StoreError
    from service.llm import GeneratorUnavailable
    from service.remote import RemoteError
    from service.retrieve import ImageNotFound

    try:
        return args.func(args)
    except (
        CliError,
        CatalogError,
        ModelNotFound,
        StoreError,
        ImageNotFound,
        GeneratorUnavailable,
        RemoteError,
    ) as e:
        print(f"tuwen {args.command}: error: {e}", file=sys.stderr)
        return EXIT_FATAL
    except KeyboardInterrupt:
        print(f"tuwen {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
