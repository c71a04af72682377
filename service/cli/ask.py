"""Commands over questions: ``ask`` (one), ``answer`` (a query.json), ``eval`` (score the
answers) and ``questions`` (kinds and clusters of a question set)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ingest.cli import EXIT_OK, EXIT_PARTIAL, CliError
from service.cli.options import add_answering_options, settings_from


def add_ask(sub: argparse._SubParsersAction) -> None:
    """Adds ``tuwen ask``.

    Args:
        sub: The ``tuwen`` subcommands.
    """
    p = sub.add_parser("ask", help="answer one question, citing catalog images")
    p.add_argument("question")
    p.add_argument("--image", help="catalog file name or a photo's path")
    p.add_argument("--json", action="store_true", help="print the answer object as JSON")
    add_answering_options(p)
    p.set_defaults(func=cmd_ask)


def add_answer(sub: argparse._SubParsersAction) -> None:
    """Adds ``tuwen answer``.

    Args:
        sub: The ``tuwen`` subcommands.
    """
    p = sub.add_parser("answer", help="answer every question of a query.json")
    p.add_argument("query_json", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="answered JSON to write")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_answering_options(p)
    p.set_defaults(func=cmd_answer)


def add_eval(sub: argparse._SubParsersAction) -> None:
    """Adds ``tuwen eval``.

    Args:
        sub: The ``tuwen`` subcommands.
    """
    p = sub.add_parser("eval", help="score answers against ground truth")
    p.add_argument("out_json", type=Path)
    p.add_argument(
        "--truth", type=Path, required=True, help="answers.json aligned with the questions"
    )
    p.add_argument("--images", type=Path, help="catalog folder: citations must name its files")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_eval)


def add_questions(sub: argparse._SubParsersAction) -> None:
    """Adds ``tuwen questions``.

    Args:
        sub: The ``tuwen`` subcommands.
    """
    p = sub.add_parser("questions", help="question kinds and clusters of a query.json")
    p.add_argument("query_json", type=Path)
    p.add_argument("-k", type=int, help="number of clusters (default: chosen from the data)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_questions)


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
    """Answers one question, streaming the text, then lists the citations and timings.

    Args:
        args: The parsed ``tuwen ask`` command line.

    Returns:
        ``EXIT_OK``.
    """
    from service.answering.answerer import Answer
    from service.factory import open_answerer

    settings = settings_from(args)
    with open_answerer(settings) as answerer:
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
    """Answers every question of a query.json into a copy with answers and citations.

    Args:
        args: The parsed ``tuwen answer`` command line.

    Returns:
        ``EXIT_OK``, or ``EXIT_PARTIAL`` when some questions failed (each says why).

    Raises:
        CliError: When the query file is unreadable or an item has no question.
    """
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
    with open_answerer(settings) as answerer:
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
        backend = answerer.backend
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
    """Scores answers against the ground truth and prints the metrics.

    Args:
        args: The parsed ``tuwen eval`` command line.

    Returns:
        ``EXIT_OK``.

    Raises:
        CliError: When a file is unreadable or the two lists do not align.
    """
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
    """Prints the kinds, attributes and phrasing clusters of a question set.

    Args:
        args: The parsed ``tuwen questions`` command line.

    Returns:
        ``EXIT_OK``.

    Raises:
        CliError: When the query file is unreadable.
    """
    from service.routing import format_question_report, question_report

    items = _read_json_list(args.query_json, "questions")
    questions = [q["question"] if isinstance(q, dict) else str(q) for q in items]
    report = question_report(questions, args.k)
    print(
        json.dumps(report, ensure_ascii=False, indent=2)
        if args.json
        else format_question_report(report)
    )
    return EXIT_OK
