"""Run the HTTP service for a benchmark: ``tuwen serve`` with a few knobs to compare routes.

    python bench/serve.py --data-dir DIR --port 8765 [--no-batch] [--threads N]
        [--batch-max 16] [--batch-wait-ms 2] [--query-cache N]

Everything goes through :func:`service.http.app.create_app` and
:func:`service.factory.build_service` as in production; ``--no-batch`` and the batch options only
change how the :class:`~service.answering.retrieve.Retriever` that ``build_service`` makes is
configured, ``--threads`` sets ``torch.set_num_threads``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402,F401 - sets the repo path and offline defaults


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--clip-model", type=Path, default=common.CLIP_DIR)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--no-batch", action="store_true", help="encode each search alone")
    ap.add_argument("--batch-max", type=int, default=None)
    ap.add_argument("--batch-wait-ms", type=float, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--query-cache", type=int, default=None, help="TUWEN_QUERY_CACHE; 0 = off")
    args = ap.parse_args()

    import torch
    import uvicorn

    from ingest.settings import Settings
    from service.factory import build_service
    from service.http.app import create_app

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {}
    if args.no_batch:
        overrides["batch_texts"] = False
    if args.batch_max is not None:
        overrides["batch_max"] = args.batch_max
    if args.batch_wait_ms is not None:
        overrides["batch_wait_ms"] = args.batch_wait_ms
    if args.query_cache is not None:
        overrides["query_cache"] = args.query_cache
    settings = Settings(
        data_dir=args.data_dir, clip_model=str(args.clip_model), dtype=args.dtype, llm="extractive"
    )
    app = create_app(settings, service=lambda: build_service(settings, retriever_options=overrides))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
