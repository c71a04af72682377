"""Run the benchmarks: one JSON line per figure on stdout, progress on stderr.

    python bench/run.py                       # every figure, full size
    python bench/run.py --quick               # every figure, small and fast (development)
    python bench/run.py --only search_latency --only search_load
    python bench/run.py --quick --out results.jsonl --table    # also a Markdown table
    python bench/run.py --threads 1           # on a CPU shared with another busy job

Each figure is its own command (``bench/<name>.py [--quick]``) and runs in its own process,
so one figure's models and threads never skew another's. A figure that fails prints a line
with ``"met": null`` and its error, the run goes on, and the exit status is 1. A missed
goal is a result, not a failure (``"met": false``, exit status 0).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name → (script, what it measures); the order they run in.
FIGURES: dict[str, tuple[str, str]] = {
    "ingest_throughput": ("ingest_throughput.py", "ingest throughput"),
    "reingest": ("reingest.py", "re-ingest unchanged"),
    "search_latency": ("search_latency.py", "search latency"),
    "search_load": ("search_load.py", "search under load"),
    "store_100k": ("store_100k.py", "store at 100k"),
    "store_1m": ("store_1m.py", "store at 1M (int8, vectors on disk)"),
    "search_filters": ("search_filters.py", "filtered search and facets at 100k"),
    "generation": ("generation.py", "generation"),
    "upload_memory": ("upload_memory.py", "upload memory"),
    "routes": ("routes.py", "routes (not goals): what each optimisation buys"),
}
#: Figures with a goal; ``routes`` runs only when named with --only or --routes.
GOALS = [n for n in FIGURES if n != "routes"]
LIMIT_S = 600
FAILED: list[str] = []


def run_figure(name: str, quick: bool, threads: int | None = None) -> list[dict]:
    script, what = FIGURES[name]
    cmd = [sys.executable, str(HERE / script)] + (["--quick"] if quick else [])
    cmd += ["--threads", str(threads)] if threads else []
    t0 = time.perf_counter()
    try:
        out = subprocess.run(
            cmd, cwd=HERE.parent, stdout=subprocess.PIPE, text=True, timeout=LIMIT_S
        )
        lines = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"exit status {out.returncode}")
    except (subprocess.TimeoutExpired, RuntimeError, json.JSONDecodeError) as e:
        reason = "over the 10-minute limit" if isinstance(e, subprocess.TimeoutExpired) else e
        lines = [
            {
                "figure": what,
                "value": None,
                "unit": None,
                "baseline": None,
                "ratio": None,
                "goal": None,
                "met": None,
                "conditions": f"FAILED: {' '.join(cmd[1:])}: {reason}",
            }
        ]
        print(json.dumps(lines[0], ensure_ascii=False), flush=True)
        FAILED.append(name)
    else:
        for ln in lines:
            print(json.dumps(ln, ensure_ascii=False), flush=True)
    print(f"[run] {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return lines


def fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, dict):
        return ", ".join(f"{k} {fmt(x)}" for k, x in v.items())
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def table(lines: list[dict]) -> str:
    """The Markdown table of bench/README.md."""
    rows = [
        "| figure | goal | measured | unit | baseline | ratio | met | conditions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ln in lines:
        cells = [
            ln.get("figure"),
            ln.get("goal"),
            fmt(ln.get("value")),
            ln.get("unit") or "",
            fmt(ln.get("baseline")),
            fmt(ln.get("ratio")),
            {True: "**yes**", False: "**no**", None: "—"}[ln.get("met")],
            ln.get("conditions") or "",
        ]
        rows.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--only",
        action="append",
        choices=sorted(FIGURES),
        metavar="NAME",
        help=f"run only this figure (repeatable): {', '.join(FIGURES)}",
    )
    ap.add_argument("--quick", action="store_true", help="small, fast runs of every figure")
    ap.add_argument("--routes", action="store_true", help="also run the route measurements")
    ap.add_argument(
        "--threads", type=int, help="torch/OpenMP threads for every figure (default: one per core)"
    )
    ap.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    ap.add_argument("--table", action="store_true", help="print a Markdown table at the end")
    args = ap.parse_args(argv)
    names = args.only or GOALS + (["routes"] if args.routes else [])
    lines: list[dict] = []
    for name in names:
        lines += run_figure(name, args.quick, args.threads)
    if args.out:
        with args.out.open("a", encoding="utf-8") as fh:
            for ln in lines:
                fh.write(json.dumps(ln, ensure_ascii=False) + "\n")
    if args.table:
        print(table(lines), file=sys.stderr)
    if FAILED:
        print(f"[run] failed: {', '.join(FAILED)}", file=sys.stderr)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
