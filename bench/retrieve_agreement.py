"""Retrieve questions answered with and without attribute agreement and attribute likelihood,
on one indexed catalog.

    python bench/retrieve_agreement.py --data-dir DIR --clip-model M --queries query.json \\
        --truth answers.json [--variant NAME=OPTIONS ...]

Each retrieve question of ``query.json`` is answered as ``tuwen answer`` answers it (routed,
its product text searched with exact caption matches first and their look-alikes), once per
variant of the :class:`~service.answering.retrieve.Retriever` options; R@1/5/10 are the share
of questions whose first accepted image (``answers.json``) ranks within 1/5/10. Prints one
JSON line per variant. Default variants: ``off`` (``agreement=False``: neither, the title is
not parsed), ``agreement`` (``likelihood=False``: the agreement leg and lead only) and ``on``
(both).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/retrieve_agreement.py` from anywhere
    sys.path.insert(0, str(REPO))

from ingest.models.roles import encoders_for  # noqa: E402
from ingest.settings import Settings  # noqa: E402
from ingest.store import open_store  # noqa: E402
from service.answering.answerer import Answerer  # noqa: E402
from service.answering.retrieve import Retriever  # noqa: E402

VARIANTS = {
    "off": {"agreement": False},
    "agreement": {"agreement": True, "likelihood": False},
    "on": {"agreement": True, "likelihood": True},
}


def recall(ranks: list[int | None], k: int) -> float:
    """Share of questions whose first accepted image ranks within ``k``."""
    return round(sum(r is not None and r <= k for r in ranks) / max(1, len(ranks)), 3)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--clip-model", required=True)
    ap.add_argument("--queries", type=Path, required=True)
    ap.add_argument("--truth", type=Path, required=True)
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help='e.g. slack0={"agreement": true, "agreement_slack": 0}',
    )
    args = ap.parse_args(argv)
    variants = dict(VARIANTS)
    for spec in args.variant:
        name, _, options = spec.partition("=")
        variants[name] = json.loads(options)
    queries = json.loads(args.queries.read_text("utf-8"))
    truth = json.loads(args.truth.read_text("utf-8"))
    asked = [
        (q["question"], set(t.get("accept") or [t.get("answer")]))
        for q, t in zip(queries, truth, strict=True)
        if t.get("type") == "retrieve"
    ]
    settings = Settings(data_dir=args.data_dir, clip_model=args.clip_model)
    with open_store(settings) as store:
        encoder = encoders_for(settings, store).query
        for name, options in variants.items():
            retriever = Retriever(store, encoder, **options)
            answerer = Answerer(retriever)
            t0 = time.perf_counter()
            ranks = []
            for question, accept in asked:
                files = [c.image for c in answerer.ask(question).citations]
                ranks.append(next((i for i, f in enumerate(files, 1) if f in accept), None))
            ms = (time.perf_counter() - t0) * 1000 / max(1, len(asked))
            print(
                json.dumps(
                    {
                        "variant": name,
                        "options": options,
                        "n": len(asked),
                        "r1": recall(ranks, 1),
                        "r5": recall(ranks, 5),
                        "r10": recall(ranks, 10),
                        "ms_per_question": round(ms, 1),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
