"""Shared pieces of the benchmarks: the result line, models, machine facts, synthetic data.

Every figure prints ONE JSON line with the keys of :func:`emit`. Ratios are always between
numbers measured in the same run: on a shared or throttled machine absolute times drift, the
ratios much less.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "catalog-dev"
IMAGES = DATA / "images"
CAPTIONS = DATA / "train_annotation.csv"
CLIP_DIR = REPO / "models" / "clip-random"
GLM_DIR = REPO / "models" / "glm-random"
#: Scratch space for generated data (10k photo folder, 100k-point stores); reused across runs.
CACHE = Path(os.environ.get("TUWEN_BENCH_CACHE") or Path(tempfile.gettempdir()) / "tuwen-bench")
PYTHON = sys.executable

if str(REPO) not in sys.path:  # `python bench/x.py` from anywhere
    sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# --------------------------------------------------------------------------- the result line


def emit(
    figure: str,
    value,
    unit: str,
    goal: str,
    met: bool | None,
    conditions: str,
    baseline=None,
    ratio=None,
) -> dict:
    """Print the figure's JSON line (and return it).

    ``value``/``baseline``/``ratio`` are numbers, or small dicts of numbers when a figure has
    several parts (e.g. p50 and p99). ``met`` is ``None`` when the figure has no goal.
    """
    line = {
        "figure": figure,
        "value": _round(value),
        "unit": unit,
        "baseline": _round(baseline),
        "ratio": _round(ratio),
        "goal": goal,
        "met": met,
        "conditions": conditions,
    }
    print(json.dumps(line, ensure_ascii=False), flush=True)
    return line


def _round(x):
    if isinstance(x, float):
        return float(f"{x:.4g}")
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    return x


def log(msg: str) -> None:
    """Progress on stderr (stdout carries only the JSON line)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- machine facts


def threads_arg(ap) -> None:
    """The ``--threads`` option every figure takes (call :func:`apply_threads` with it)."""
    ap.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("TUWEN_BENCH_THREADS") or 0) or None,
        help="torch/OpenMP threads for every process of the figure (default: one per core; "
        "env TUWEN_BENCH_THREADS)",
    )


def apply_threads(n: int | None) -> None:
    """Use ``n`` intra-op threads here and in every child process (``OMP_NUM_THREADS``).

    On a CPU shared with another busy process, OpenMP's barrier-synchronised kernels stall
    whenever one of their threads is descheduled; one thread per free core is then far faster.
    """
    if not n:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ["TUWEN_BENCH_THREADS"] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def machine() -> str:
    """One line on the CPU: model, cores, bf16/AMX support, load at the start."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    name = next(
        (ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")),
        "unknown CPU",
    )
    flags = set()
    for ln in info.splitlines():
        if ln.startswith("flags"):
            flags = set(ln.split(":", 1)[1].split())
            break
    isa = [f for f in ("avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16") if f in flags]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import torch

    return (
        f"{name}, {os.cpu_count()} cores ({'+'.join(isa) or 'no AVX-512'}"
        f"{'' if 'amx_bf16' in flags else ', no AMX'}), torch {torch.__version__} "
        f"{torch.get_num_threads()} threads, load avg {load:.1f} at start"
    )


def rss_gib(pid: int | None = None, peak: bool = False) -> float:
    """Resident memory of a process (this one by default), GiB; ``peak`` = high-water mark."""
    key = "VmHWM:" if peak else "VmRSS:"
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    kb = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith(key))
    return kb / (1024 * 1024)


def percentile(xs: Iterable[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


class Timer:
    """``with Timer() as t: ...``; then ``t.s``."""

    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.s = time.perf_counter() - self.t0


# --------------------------------------------------------------------------- models


def ensure_clip() -> Path:
    """The random-weight Chinese-CLIP ViT-B/16 of the real shape (made once, ~1 min)."""
    if not (CLIP_DIR / "config.json").exists():
        log(f"making {CLIP_DIR} (random weights, real chinese-clip-vit-base-patch16 shape)")
        subprocess.run(
            [
                PYTHON,
                str(REPO / "bench" / "make_clip.py"),
                str(CLIP_DIR),
                "--captions",
                str(CAPTIONS),
            ],
            check=True,
            cwd=REPO,
            stdout=sys.stderr,
        )
    return CLIP_DIR


def ensure_glm() -> Path:
    """The random-weight GLM of THUDM/glm-edge-1.5b-chat's shape (made once, ~1-2 min)."""
    if not (GLM_DIR / "config.json").exists():
        log(f"making {GLM_DIR} (random weights, glm-edge-1.5b-chat shape)")
        subprocess.run(
            [PYTHON, str(REPO / "bench" / "make_glm.py"), str(GLM_DIR)],
            check=True,
            cwd=REPO,
            stdout=sys.stderr,
        )
    return GLM_DIR


def require_data() -> None:
    if not CAPTIONS.exists():
        sys.exit(f"the benchmarks read the real catalog at {DATA}; it is not there")


# --------------------------------------------------------------------------- synthetic data


def real_captions() -> list[str]:
    with CAPTIONS.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    return [r[-1] for r in rows[1:] if r and r[-1].strip()]


def synthetic_captions(n: int, seed: int = 0) -> list[str]:
    """Product captions recombined from the words of the real ones (brand+type, gender,
    colour, usage, ...), so jieba sees realistic tokens and term frequencies."""
    words_by_pos: list[list[str]] = [[] for _ in range(5)]
    for cap in real_captions():
        for i, w in enumerate(cap.split()[:5]):
            words_by_pos[i].append(w)
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        k = rnd.choice((2, 3, 4, 4, 4, 5))
        out.append(" ".join(rnd.choice(words_by_pos[i]) for i in range(k)))
    return out


def random_unit(rng, n: int, dim: int):
    import numpy as np

    v = rng.standard_normal((n, dim), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


#: Stored attribute values of the synthetic points, (value, weight) per field: a few values
#: per field with the skew of a fashion catalog (black and white shirts for men are common,
#: green children's bags rare). ``None`` = the field is not stated.
ATTRIBUTE_MIX: dict[str, tuple[tuple[str | None, float], ...]] = {
    "color": (
        ("黑色", 30),
        ("白色", 20),
        ("蓝色", 15),
        ("红色", 10),
        ("灰色", 8),
        ("粉色", 5),
        ("绿色", 4),
        ("棕色", 3),
        (None, 5),
    ),
    "gender": (("男士", 45), ("女士", 38), ("男女通用", 8), ("儿童", 4), (None, 5)),
    "category": (
        ("T恤", 22),
        ("衬衫", 15),
        ("休闲鞋", 12),
        ("手表", 10),
        ("手提包", 8),
        ("牛仔裤", 8),
        ("连衣裙", 7),
        ("运动鞋", 6),
        ("太阳镜", 4),
        ("钱包", 3),
        (None, 5),
    ),
    "usage": (("休闲", 55), ("运动", 18), ("正装", 9), ("民族风", 5), (None, 13)),
    "brand": (
        ("Nike", 14),
        ("Puma", 10),
        ("Adidas", 9),
        ("Titan", 6),
        ("Fastrack", 5),
        ("Levis", 4),
        (None, 52),
    ),
}


def synthetic_attributes(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Stored ``attributes`` for ``n`` points, drawn from :data:`ATTRIBUTE_MIX`."""
    rnd = random.Random(seed + 7)
    drawn = {
        f: rnd.choices([v for v, _ in mix], weights=[w for _, w in mix], k=n)
        for f, mix in ATTRIBUTE_MIX.items()
    }
    return [{f: vs[i] for f, vs in drawn.items() if vs[i] is not None} for i in range(n)]


def synthetic_points(n: int, dim: int = 512, seed: int = 0, chunk: int = 1000) -> Iterator[list]:
    """Chunks of :class:`~ingest.store.PointData`: random unit image/caption/look vectors,
    jieba keyword vectors of generated captions (every point captioned), stored attributes
    (:func:`synthetic_attributes`)."""
    import numpy as np

    from ingest.keywords import sparse_vector
    from ingest.look import DIM as LOOK_DIM
    from ingest.store import PointData

    rng = np.random.default_rng(seed)
    caps = synthetic_captions(n, seed)
    attrs = synthetic_attributes(n, seed)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        img, cap = random_unit(rng, m, dim), random_unit(rng, m, dim)
        look = random_unit(rng, m, LOOK_DIM)
        yield [
            PointData(
                file=f"synthetic/{start + i:07d}.jpg",
                caption=caps[start + i],
                image=img[i],
                caption_vector=cap[i],
                keywords=sparse_vector(caps[start + i]),
                hash=f"h{start + i}",
                image_hash=f"i{start + i}",
                ingested_at="2026-01-01T00:00:00+00:00",
                look=look[i],
                attributes=attrs[start + i],
                attribute_source="caption" if attrs[start + i] else None,
            )
            for i in range(m)
        ]


def bench_collection(n: int, *, rebuild: bool = False) -> Path:
    """An embedded store with ``n`` synthetic points for the random CLIP's fingerprint, HNSW
    built (``Store.optimize``), made once under :data:`CACHE` (its data dir is returned).
    At 100k on 2 busy cores the index build takes minutes; later runs reuse it."""
    from ingest.look import DIM as LOOK_DIM
    from ingest.models.fingerprint import fingerprint_of
    from ingest.store import EdgeStore

    fp = fingerprint_of(ensure_clip())
    where = hashlib.sha256(fp.model.encode()).hexdigest()[:8]  # the store records the model path
    # "-idx": with the payload indexes ingest makes (without them attribute-agreement
    # searches scan every payload: 88 vs 13 ms CPU per text search at 20k points)
    data_dir = CACHE / f"store-{n}-{fp.revision}-{where}-look{LOOK_DIM}-idx"
    done = data_dir / "complete"
    if done.exists() and not rebuild:
        return data_dir
    import shutil

    shutil.rmtree(data_dir, ignore_errors=True)
    log(f"building a {n}-point synthetic collection in {data_dir}")
    t0 = time.perf_counter()
    with EdgeStore(data_dir) as store:
        store.ensure(fp)
        store.ensure_indexes()
        for chunk in synthetic_points(n, fp.dim):
            store.upsert(chunk)
        t1 = time.perf_counter()
        log(f"upserted in {t1 - t0:.1f}s; building the HNSW index (store.optimize())")
        store.optimize()
    t2 = time.perf_counter()
    done.write_text(f"{n} points: upsert {t1 - t0:.1f}s, index {t2 - t1:.1f}s\n")
    log(f"indexed in {t2 - t1:.1f}s")
    return data_dir


def queries(n: int, seed: int = 1) -> list[str]:
    """Search texts: product titles like the retrieve questions' (real and recombined)."""
    rnd = random.Random(seed)
    real = real_captions()
    synth = synthetic_captions(n, seed + 100)
    return [rnd.choice(real) if i % 2 else synth[i] for i in range(n)]


# --------------------------------------------------------------------------- the HTTP service


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``bench/serve.py`` in a subprocess on 127.0.0.1; ``with Server(data_dir) as url: ...``."""

    def __init__(self, data_dir: Path, *extra: str, timeout: float = 180.0) -> None:
        self.data_dir = data_dir
        self.extra = list(extra)
        self.timeout = timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        import httpx

        cmd = [PYTHON, str(REPO / "bench" / "serve.py"), "--data-dir", str(self.data_dir)]
        cmd += ["--port", str(self.port), *self.extra]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=sys.stderr, stderr=sys.stderr)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}: {cmd}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.__exit__()
        raise RuntimeError(f"the server did not become ready in {self.timeout:.0f}s")

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def process_cpu_s(pid: int | None = None) -> float:
    """User + system CPU seconds of a process, all its threads (this one by default)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    return _stat_cpu_s(Path(f"/proc/{pid}/stat"))


def _stat_cpu_s(stat: Path) -> float:
    """utime + stime of a /proc/…/stat file, in seconds."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def search_clients(
    url: str,
    texts: list[str],
    clients: int,
    *,
    seconds: float | None = None,
    requests: int | None = None,
    k: int = 10,
    server_pid: int | None = None,
) -> dict:
    """``clients`` threads, each with its own keep-alive connection, sending ``GET /v1/search``
    back to back, for ``seconds`` or until ``requests`` in all. Latencies are per request.

    Also the CPU time per request of the clients (this process) and, given ``server_pid``, of
    the server, and how busy that kept the machine's cores."""
    import threading

    import httpx

    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(10**9))
    stop_at = time.perf_counter() + seconds if seconds else None
    start = threading.Barrier(clients + 1)

    def client(cid: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            http.get("/healthz")
            start.wait()
            while True:
                with lock:
                    i = next(counter)
                if requests is not None and i >= requests:
                    return
                if stop_at is not None and time.perf_counter() >= stop_at:
                    return
                q = texts[(i * 7 + cid) % len(texts)]
                t0 = time.perf_counter()
                try:
                    r = http.get("/v1/search", params={"q": q, "k": k})
                    ok = r.status_code == 200 and r.json()["results"]
                    err = None if ok else f"HTTP {r.status_code}: {r.text[:100]}"
                except Exception as e:  # noqa: BLE001 - counted as an error
                    err = f"{type(e).__name__}: {e}"
                dt = time.perf_counter() - t0
                with lock:
                    if err:
                        errors.append(err)
                    else:
                        lat.append(dt)

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    cpu0, srv0 = process_cpu_s(), process_cpu_s(server_pid) if server_pid else 0.0
    threads0 = thread_cpu_s(server_pid) if server_pid else {}
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    client_cpu = process_cpu_s() - cpu0
    server_cpu = process_cpu_s(server_pid) - srv0 if server_pid else float("nan")
    n = max(1, len(lat) + len(errors))
    by_role: dict[str, float] = {}
    if server_pid:
        roles = thread_roles(server_pid)
        for tid, cpu in thread_cpu_s(server_pid).items():
            role = roles.get(tid, "threads that ended")
            by_role[role] = by_role.get(role, 0.0) + (cpu - threads0.get(tid, 0.0)) / n * 1000
    return {
        "server_cpu_ms_by_role": dict(sorted(by_role.items(), key=lambda kv: -kv[1])),
        "client_cpu_ms": client_cpu / n * 1000,
        "server_cpu_ms": server_cpu / n * 1000,
        "busy": (client_cpu + server_cpu) / wall / (os.cpu_count() or 1) if wall > 0 else 0.0,
        "n": len(lat),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "wall_s": wall,
        "throughput": len(lat) / wall if wall > 0 else 0.0,
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "mean_ms": (sum(lat) / len(lat) * 1000) if lat else float("nan"),
    }


def thread_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process, by thread id."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = _stat_cpu_s(task / "stat")
        except OSError:  # the thread ended
            continue
    return out


def thread_roles(pid: int) -> dict[int, str]:
    """What each thread of a ``bench/serve.py`` process does: Python threads by name (from
    ``py-spy dump``, when py-spy is installed), Qdrant Edge's by their OS name; the remaining
    threads are ONNX Runtime's workers (or unknown, without py-spy)."""
    import re
    import shutil

    roles = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
        except OSError:
            continue
        roles[int(task.name)] = "store (Qdrant Edge threads)" if comm.startswith("edge-") else ""
    if shutil.which("py-spy"):
        dump = subprocess.run(["py-spy", "dump", "--pid", str(pid)], capture_output=True, text=True)
        for tid, name in re.findall(r'^Thread (\d+) \(\w+\): "([^"]+)"', dump.stdout, re.M):
            roles[int(tid)] = {
                "tuwen-text-batcher": "text tower: batcher thread (tokeniser, ONNX Runtime)",
                "MainThread": "HTTP: uvicorn event loop",
                "AnyIO worker thread": "request handlers (FastAPI, jieba, fusion, JSON)",
            }.get(name, f"other Python: {name}")
        unnamed = "text tower: ONNX Runtime worker threads"
    else:
        unnamed = "Python and ONNX Runtime threads (install py-spy to split them)"
    return {tid: role or unnamed for tid, role in roles.items()}
