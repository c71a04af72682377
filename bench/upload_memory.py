"""Upload memory: eight concurrent asks about a 39.7 Mpx 1-bit PNG (4.9 KB on the wire).

    python bench/upload_memory.py [--quick] [--clients 8] [--side 6300]

The service (``bench/serve.py``, the real app, random Chinese-CLIP ViT-B/16) holds 32 catalog
photos sent through ``POST /v1/products``. After one warm-up ask, ``--clients`` clients each
ask ``POST /v1/ask`` with the same 6300×6300 1-bit PNG at once, twice over; the server's
resident memory is sampled every 5 ms (and its high-water mark read from ``VmHWM`` after
resetting it). Goal: the peak stays under 600 MB above the RSS before the burst, and two
seconds after it the RSS is back within 100 MB of where it started.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

GOAL_PEAK_MB, GOAL_BACK_MB = 600, 100


def one_bit_png(side: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, "PNG")
    return buf.getvalue()


def rss_mb(pid: int, key: str = "VmRSS:") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int) -> bool:
    """Reset the process's ``VmHWM`` (Linux ``clear_refs`` 5); ``False`` where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def seed_catalog(url: str, n: int) -> None:
    import httpx

    with common.CAPTIONS.open(encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.reader(fh)][1 : n + 1]
    files = [("images", (r[0], (common.IMAGES / r[0]).read_bytes(), "image/jpeg")) for r in rows]
    r = httpx.post(
        url + "/v1/products", files=files, data={"captions": [r[1] for r in rows]}, timeout=600
    )
    r.raise_for_status()


def burst(url: str, photo: bytes, clients: int) -> list[int]:
    import httpx

    statuses: list[int] = []
    go = threading.Barrier(clients)

    def ask() -> None:
        with httpx.Client(timeout=600) as c:
            go.wait()
            r = c.post(
                url + "/v1/ask",
                data={"question": "图中商品是什么颜色？"},
                files={"photo": ("scan.png", photo, "image/png")},
            )
            statuses.append(r.status_code)

    threads = [threading.Thread(target=ask) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one burst instead of two")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--side", type=int, default=6300, help="the PNG's side in pixels")
    common.threads_arg(ap)
    args = ap.parse_args(argv)
    common.apply_threads(args.threads)
    common.require_data()
    common.ensure_clip()
    where = common.machine()
    photo = one_bit_png(args.side)
    with tempfile.TemporaryDirectory() as tmp:
        server = common.Server(Path(tmp) / "data")
        with server as url:
            return measure(url, server.pid, photo, args, where)


def measure(url: str, pid: int, photo: bytes, args: argparse.Namespace, where: str) -> dict:
    """The bursts against the running server, and the figure's line."""
    import httpx

    seed_catalog(url, 32)
    start = rss_mb(pid)
    warm = httpx.post(
        url + "/v1/ask",
        data={"question": "图中商品是什么颜色？"},
        files={"photo": ("scan.png", photo, "image/png")},
        timeout=600,
    )
    warm.raise_for_status()
    time.sleep(1.0)
    before = rss_mb(pid)
    hwm_reset = reset_peak(pid)
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_mb(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    statuses = []
    for _ in range(1 if args.quick else 2):
        statuses += burst(url, photo, args.clients)
    took = time.perf_counter() - t0
    done.set()
    sampler.join()
    peak = max(max(samples), rss_mb(pid, "VmHWM:") if hwm_reset else 0.0)
    time.sleep(2.0)
    after = rss_mb(pid)
    growth, back = peak - before, after - before
    common.log(f"RSS before {before:.0f} MB, peak {peak:.0f} MB, 2 s after {after:.0f} MB")
    met = growth < GOAL_PEAK_MB and back < GOAL_BACK_MB and all(s == 200 for s in statuses)
    return common.emit(
        "upload memory",
        {"peak_growth_mb": growth, "after_mb": back},
        "MB",
        f"peak RSS growth < {GOAL_PEAK_MB} MB; RSS back within {GOAL_BACK_MB} MB of the start",
        met,
        f"{len(statuses)} asks ({args.clients} at once, {1 if args.quick else 2} bursts) with a "
        f"{args.side}x{args.side} 1-bit PNG of {len(photo)} bytes "
        f"({args.side * args.side / 1e6:.1f} Mpx), statuses {sorted(set(statuses))}, "
        f"{took:.1f} s; server RSS {start:.0f} MB before the warm-up ask, {before:.0f} MB "
        f"before the bursts, peak {peak:.0f} MB "
        f"({'VmHWM after clear_refs and ' if hwm_reset else ''}5 ms samples), {after:.0f} MB "
        f"2 s after; bench/serve.py, random Chinese-CLIP ViT-B/16, 32 catalog photos, "
        f"default decode budget. {where}",
    )


if __name__ == "__main__":
    main()
