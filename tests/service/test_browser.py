"""The web page in headless Chromium against the real app served by uvicorn.

Opens ``/?q=…&image=…`` (the page asks on load), lets the streamed answer finish under
virtual time, then checks the dumped DOM and keeps a screenshot in test-artifacts/.
"""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import uvicorn

from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.settings import Settings
from ingest.store import EdgeStore
from service.api import create_app
from tests.conftest import REPO, make_catalog

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
QUESTION = "图中商品是什么颜色？"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-proxy-server",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=15000",
]


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (install Debian's chromium package, see .ci/setup)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_clip_dir, tiny_encoder) -> str:
    """The real app under uvicorn on a free local port, in a background thread."""
    root = tmp_path_factory.mktemp("browser")
    images, captions = make_catalog(root / "cat", n=10, captioned=8)
    with EdgeStore(root / "data") as store:
        run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
    settings = Settings(
        data_dir=root / "data", clip_model=str(tiny_clip_dir), dtype="float32", images_dir=images
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


def run_chromium(binary: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(binary), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )


def test_page_asks_from_the_url_and_shows_the_answer_with_cited_photos(
    server, chromium, tmp_path
):
    url = f"{server}/?{urlencode({'q': QUESTION, 'image': '1000.jpg'})}"

    run = run_chromium(chromium, tmp_path / "profile", "--dump-dom", url)
    dom = run.stdout
    assert run.returncode == 0 and "<html" in dom, run.stderr[-2000:]

    answer = re.search(r'<p id="answer" class="answer">(.*?)</p>', dom, re.S)
    assert answer and html.unescape(answer.group(1)).strip(), dom[-3000:]
    assert 'id="result" class="card" hidden' not in dom  # the answer section is shown
    assert re.search(r'<div id="error" class="error" role="alert" hidden=""', dom), dom[-3000:]
    assert "类型：属性问答（颜色）" in html.unescape(dom)  # kind, attribute and timings
    assert "耗时" in html.unescape(dom)

    cited = re.findall(r"<img [^>]*class=\"cited\"[^>]*>", dom)
    assert cited, dom[-3000:]
    loaded = [t for t in cited if 'data-loaded="1"' in t and re.search(r'src="/images/[^"]+"', t)]
    assert loaded, cited
    assert not [t for t in re.findall(r"<img [^>]*>", dom) if "data-broken" in t]

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-ask.png"
    shot.unlink(missing_ok=True)
    run = run_chromium(
        chromium,
        tmp_path / "profile-shot",
        f"--screenshot={shot}",
        "--window-size=1280,1000",
        url,
    )
    assert run.returncode == 0 and shot.is_file() and shot.stat().st_size > 10_000, run.stderr[
        -2000:
    ]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
