"""``kill -9`` of a real ``tuwen serve`` while clients upload, replace and delete; after each
restart every acknowledged product is intact, and the uploads folder holds no orphan."""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.plan import content_hashes
from ingest.store import EdgeStore, point_id
from tests.conftest import REPO, make_catalog
from tests.service.http.conftest import AUTH, KEY

KILLS = 2


def png(seed: int) -> bytes:
    rng = random.Random(seed)
    buf = io.BytesIO()
    Image.new("RGB", (48, 48), tuple(rng.randrange(256) for _ in range(3))).save(buf, "PNG")
    return buf.getvalue()


class Server:
    """``tuwen serve`` in a subprocess."""

    def __init__(self, data: Path, images: Path, clip: Path, log: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {**os.environ, "TUWEN_API_KEY": KEY, "TUWEN_DTYPE": "float32", "HF_HUB_OFFLINE": "1"}
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port)]
            + ["--data-dir", str(data), "--images", str(images), "--clip-model", str(clip)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tuwen serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


class Ledger:
    """What the clients know: the acknowledged state of each name, and the state a request
    in flight when the server died may or may not have left (either is correct).

    A state is ``(content hash, sha256 of the photo)``, or ``None`` for no product.
    """

    def __init__(self) -> None:
        self.known: dict[str, tuple[str, str] | None] = {}
        self.maybe: dict[str, tuple[str, str] | None] = {}
        self.acks = 0
        self.lock = threading.Lock()

    def sending(self, states: dict[str, tuple[str, str] | None]) -> None:
        with self.lock:
            self.maybe.update(states)

    def acked(self, states: dict[str, tuple[str, str] | None]) -> None:
        with self.lock:
            self.known.update(states)
            for name in states:
                self.maybe.pop(name, None)
            self.acks += 1


def client_loop(url: str, worker: int, ledger: Ledger, stop: threading.Event) -> None:
    """Upload, replace and delete until the server dies (each name belongs to one worker)."""
    rng = random.Random(worker)
    n = 0
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as c:
        while not stop.is_set():
            n += 1
            names = list(dict.fromkeys(f"w{worker}/p{rng.randrange(12)}.png" for _ in range(3)))
            try:
                if rng.random() < 0.15:
                    ledger.sending({names[0]: None})
                    r = c.delete(f"/v1/products/{names[0]}")
                    assert r.status_code in (200, 404), r.text
                    ledger.acked({names[0]: None})
                    continue
                photos = {name: png(hash((worker, n, name))) for name in names}
                caps = {name: f"第{n}批 {name}" for name in names}
                states = {
                    name: (
                        content_hashes(photos[name], caps[name])[0],
                        hashlib.sha256(photos[name]).hexdigest(),
                    )
                    for name in names
                }
                ledger.sending(states)
                r = c.post(
                    "/v1/products",
                    params={"replace": "true"},
                    files=[("images", (k, v, "image/png")) for k, v in photos.items()],
                    data={"captions": list(caps.values())},
                )
            except httpx.HTTPError:
                return  # the server was killed
            assert r.status_code == 200, r.text
            stored = {p["image"]: p["hash"] for p in r.json()["products"]}
            assert stored == {name: st[0] for name, st in states.items()}  # exactly what was sent
            ledger.acked(states)


def check(url: str, data: Path, ledger: Ledger) -> None:
    """Every name holds its acknowledged state (or what the request in flight left), its
    photo is the one the point names, and the uploads folder holds nothing else."""
    uploads = data / "uploads"
    left = [p.relative_to(uploads) for p in uploads.rglob("*") if p.is_file()]
    assert not [p for p in left if p.parts[0] != ".blobs"], left  # no temp file, no old layout
    names = [f"w{w}/p{i}.png" for w in range(2) for i in range(12)]
    seen = {}
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as c:
        for name in names:
            r = c.get(f"/v1/products/{name}")
            if r.status_code == 404:
                seen[name] = None
            else:
                photo = c.get(f"/images/{name}")
                assert photo.status_code == 200 and r.json()["origin"] == "upload", name
                seen[name] = (r.json()["hash"], hashlib.sha256(photo.content).hexdigest())
            allowed = [ledger.known.get(name)]
            if name in ledger.maybe:
                allowed.append(ledger.maybe[name])
            assert seen[name] in allowed, (name, seen[name], allowed)
    by_pid = {point_id(name): name for name in names}
    for blob in left:  # every kept photo is the photo of a stored product
        _, _, pid, image_sha = blob.parts
        assert seen[by_pid[pid]] is not None and seen[by_pid[pid]][1] == image_sha, blob
    assert len(left) == sum(state is not None for state in seen.values())
    ledger.known.update(seen)
    ledger.maybe.clear()


def test_kill_9_during_uploads_loses_nothing_acknowledged(tmp_path, tiny_clip_dir, tiny_encoder):
    images, captions = make_catalog(tmp_path / "cat", n=6, captioned=6)
    data = tmp_path / "data"
    with EdgeStore(data) as store:
        run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
    ledger = Ledger()
    rng = random.Random(17)
    for kill in range(KILLS + 1):
        server = Server(data, images, tiny_clip_dir, tmp_path / f"serve-{kill}.log")
        try:
            check(server.url, data, ledger)
            if kill > 0:  # the reconciliation's summary
                summary = [ln for ln in server.log.read_text().splitlines() if "uploads: " in ln]
                assert summary
                print(f"restart {kill}: {summary[-1]}")
            if kill == KILLS:
                break
            stop = threading.Event()
            workers = [
                threading.Thread(target=client_loop, args=(server.url, w, ledger, stop))
                for w in range(2)
            ]
            for w in workers:
                w.start()
            time.sleep(rng.uniform(1.0, 2.5))
        finally:
            server.kill()
        stop.set()
        for w in workers:
            w.join(30)
    assert ledger.acks >= 6, "the clients got few requests through before the kills"
