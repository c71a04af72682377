"""Search under load: 16 concurrent clients on ``GET /v1/search`` vs one client, same run.

    python bench/search_load.py [--quick] [--seconds 30] [--compare] [--no-zipf] [--zipf-s 1.0]

The service and collection are those of ``search_latency.py`` (100k synthetic points). One
client runs first (the baseline throughput), then 16 clients for ``--seconds``; each keeps
one keep-alive connection and sends the next search as soon as the last one returns. The
service batches concurrent text encodes (``service/answering/batcher.py``). ``--compare`` also
runs the 16 clients against a server with batching off, to show what batching buys.

Real query streams repeat. After the distinct-text run, the same 16 clients send a Zipf mix
(text of rank r drawn with probability ∝ 1/r^s over a vocabulary of 2,000 texts) to the same
server, whose query text cache (``TUWEN_QUERY_CACHE``, LRU) then skips the text tower for
repeats; a second JSON line gives its throughput against the distinct run's and the cache hit
rate read from ``/metrics``. ``--no-zipf`` skips it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

N_POINTS = 100_000
CLIENTS = 16
ZIPF_VOCABULARY = 2000


def distinct_texts(n: int) -> list[str]:
    """``n`` search texts, no two alike (the cache never hits)."""
    out: list[str] = []
    seed = 1
    while len(out) < n:
        out = list(dict.fromkeys(out + common.queries(n, seed=seed)))
        seed += 1
    return out[:n]


def zipf_texts(vocabulary: list[str], n: int, s: float, seed: int = 3) -> list[str]:
    """``n`` texts drawn from ``vocabulary`` with P(rank r) ∝ 1/r^s."""
    import numpy as np

    w = 1.0 / np.arange(1, len(vocabulary) + 1) ** s
    picks = np.random.default_rng(seed).choice(len(vocabulary), size=n, p=w / w.sum())
    return [vocabulary[i] for i in picks]


def cache_counts(url: str) -> tuple[float, float]:
    """The service's query cache hits and misses so far (``/metrics``)."""
    import httpx

    found = {"hits": 0.0, "misses": 0.0}
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        for what in found:
            if line.startswith(f'tuwen_query_cache{{what="{what}"}}'):
                found[what] = float(line.rsplit(" ", 1)[1])
    return found["hits"], found["misses"]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 s of load instead of 30")
    ap.add_argument("--seconds", type=float, help="load duration (default 30, quick 8)")
    ap.add_argument("--clients", type=int, default=CLIENTS)
    ap.add_argument("--points", type=int, default=N_POINTS, help="collection size (cached)")
    ap.add_argument("--compare", action="store_true", help="also run with batching off")
    ap.add_argument("--no-zipf", action="store_true", help="skip the Zipf query mix run")
    ap.add_argument("--zipf-s", type=float, default=1.0, help="Zipf exponent of the query mix")
    common.threads_arg(ap)
    args = ap.parse_args(argv)
    common.apply_threads(args.threads)
    common.require_data()
    common.ensure_clip()
    where = common.machine()
    seconds = args.seconds or (8.0 if args.quick else 30.0)
    one_seconds = max(4.0, seconds / 3)
    data_dir = common.bench_collection(args.points)
    texts = distinct_texts(12_000)  # more than a run sends: every request a new text
    vocabulary = common.queries(20_000, seed=41)
    sent = set(texts)
    vocabulary = list(dict.fromkeys(t for t in vocabulary if t not in sent))
    mix = zipf_texts(vocabulary[:ZIPF_VOCABULARY], 50_000, args.zipf_s)
    server = common.Server(data_dir)
    zipf = None
    with server as url:
        pid = server.pid
        warm = texts[-4 * args.clients :]
        common.search_clients(url, warm, args.clients, requests=4 * args.clients)
        one = common.search_clients(url, texts[:3000], 1, seconds=one_seconds, server_pid=pid)
        many = common.search_clients(
            url, texts[3000:-100], args.clients, seconds=seconds, server_pid=pid
        )
        if not args.no_zipf:
            h0, m0 = cache_counts(url)
            zipf = common.search_clients(url, mix, args.clients, seconds=seconds, server_pid=pid)
            h1, m1 = cache_counts(url)
            zipf["hit_rate"] = (h1 - h0) / max(1.0, (h1 - h0) + (m1 - m0))
    common.log(f"1 client: {one}")
    common.log(f"{args.clients} clients: {many}")
    common.log(f"{args.clients} clients, Zipf mix: {zipf}")
    off = None
    if args.compare:
        with common.Server(data_dir, "--no-batch") as url:
            common.search_clients(url, texts[::-1], args.clients, requests=2 * args.clients)
            off = common.search_clients(url, texts[500:], args.clients, seconds=seconds)
        common.log(f"{args.clients} clients, batching off: {off}")
    ratio = many["throughput"] / one["throughput"]
    # What the cores allow: every request costs server + client CPU time; with all cores busy
    # the throughput cannot exceed cores / (CPU time per request).
    cores = os.cpu_count() or 1
    cpu_ms = many["server_cpu_ms"] + many["client_cpu_ms"]
    ceiling = cores * 1000 / cpu_ms
    cpu_note = (
        f" CPU per request, 1 client: server {one['server_cpu_ms']:.1f} ms + clients "
        f"{one['client_cpu_ms']:.1f} ms ({one['busy']:.0%} of {cores} cores busy); "
        f"{args.clients} clients: server {many['server_cpu_ms']:.1f} ms + clients "
        f"{many['client_cpu_ms']:.1f} ms ({many['busy']:.0%} busy), so {cores} cores cap it at "
        f"{ceiling:.0f} req/s = {ceiling / one['throughput']:.2f}× one client. Server CPU ms "
        f"per request by thread under load: "
        + ", ".join(f"{k} {v:.1f}" for k, v in many["server_cpu_ms_by_role"].items() if v >= 0.05)
        + "."
    )
    off_note = (
        f" Batching off, same {args.clients} clients: {off['throughput']:.1f} req/s "
        f"({off['throughput'] / one['throughput']:.2f}× one client), p99 {off['p99_ms']:.0f} ms, "
        f"{off['errors']} errors."
        if off
        else ""
    )
    if zipf is not None:
        common.emit(
            "search under load, Zipf query mix",
            {"throughput": zipf["throughput"], "p99": zipf["p99_ms"], "errors": zipf["errors"]},
            "req/s, ms",
            goal=None,
            met=None,
            baseline={"distinct_throughput": many["throughput"]},
            ratio=zipf["throughput"] / many["throughput"],
            conditions=(
                f"{'QUICK ' if args.quick else ''}{args.clients} clients × {seconds:.0f} s "
                f"({zipf['n']} requests, p50 {zipf['p50_ms']:.0f} ms), texts drawn with "
                f"P(rank r) ∝ 1/r^{args.zipf_s:g} from {ZIPF_VOCABULARY} texts, query text "
                f"cache hit rate {zipf['hit_rate']:.1%} (from /metrics; LRU of 1024 texts, "
                f"cold at the start of the run); baseline: the same clients and server, every "
                f"text distinct ({many['n']} requests). Server CPU per request "
                f"{zipf['server_cpu_ms']:.1f} ms vs {many['server_cpu_ms']:.1f} ms. {where}"
            ),
        )
    return common.emit(
        "search under load",
        {"throughput": many["throughput"], "p99": many["p99_ms"], "errors": many["errors"]},
        "req/s, ms",
        goal=f"≥ 3.5× one-client throughput, p99 ≤ 200 ms, 0 errors ({args.clients} clients)",
        met=ratio >= 3.5 and many["p99_ms"] <= 200 and many["errors"] == 0,
        baseline={"one_client_throughput": one["throughput"], "one_client_p50": one["p50_ms"]},
        ratio=ratio,
        conditions=(
            f"{'QUICK ' if args.quick else ''}{args.clients} clients × {seconds:.0f} s "
            f"({many['n']} requests, p50 {many['p50_ms']:.0f} ms) vs 1 client × "
            f"{one_seconds:.0f} s ({one['n']} requests), GET /v1/search k=10, keep-alive, "
            f"uvicorn on 127.0.0.1, {args.points} synthetic points, Qdrant Edge, random "
            f"Chinese-CLIP ViT-B/16 (int8 text tower, TUWEN_INT8_RUNTIME=auto: ONNX Runtime), text batcher on (max 16 texts, no wait when idle); "
            f"clients run in the bench process on the same cores.{cpu_note}{off_note} {where}"
        ),
    )


if __name__ == "__main__":
    main()
