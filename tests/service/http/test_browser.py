"""The web page in headless Chromium against the real app served by uvicorn.

Opens ``/?q=…&image=…`` (the page asks on load), waits until the streamed answer and its
cited photos are in, then checks the DOM and keeps a screenshot in test-artifacts/.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages ending in NUL on fds 3 and 4), stdlib only. ``--dump-dom --virtual-time-budget``
is not used: virtual time does not wait for a response body that is still streaming, so the
dump can come before the answer does.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
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
from service.http.app import create_app
from tests.conftest import REPO, make_catalog

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "test-artifacts" / "browser-ask.png"
QUESTION = "图中商品是什么颜色？"
FLAGS = (
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
)
# True once the page has asked, the stream has ended and every cited photo loaded or failed.
SETTLED = """(() => {
  const shown = document.querySelector('#result:not([hidden]), #error:not([hidden])');
  const busy = document.querySelector('#answer.streaming');
  const pending = [...document.querySelectorAll('#citations img')]
    .some((i) => !i.dataset.loaded && !i.dataset.broken);
  return document.readyState === 'complete' && !!shown && !busy && !pending;
})()"""


class Chromium:
    """Headless Chromium with a DevTools-protocol connection over a pipe."""

    def __init__(self, binary: Path, profile: Path, log: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()  # we write commands; chromium reads them on fd 3
        self._out_r, out_w = os.pipe()  # chromium writes replies and events on fd 4
        # fds 3 and 4 reach chromium through stdin/stdout of a shell that moves them there
        script = 'exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2'
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                ["/bin/sh", "-c", script, str(binary), *FLAGS]
                + [f"--user-data-dir={profile}", "--window-size=1280,1000"]
                + ["--remote-debugging-pipe", "about:blank"],
                stdin=cmd_r,
                stdout=out_w,
                stderr=err,
            )
        os.close(cmd_r)
        os.close(out_w)
        self._buf = b""
        self._id = 0

    def call(self, method: str, session: str | None = None, timeout: float = 20, **params):
        self._id += 1
        msg: dict = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _next(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out_r], [], [], left)[0]:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._out_r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited ({self.proc.poll()})")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def evaluate(self, session: str, expression: str):
        result = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._out_r)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (install Debian's chromium package, see .ci/setup)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def server(chromium, tmp_path_factory, tiny_clip_dir, tiny_encoder):
    """The real app under uvicorn on a free local port, in a background thread (only when
    there is a browser to point at it)."""
    root = tmp_path_factory.mktemp("browser")
    images, captions = make_catalog(root / "cat", n=10, captioned=8)
    with EdgeStore(root / "data") as store:
        run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
    settings = Settings(
        data_dir=root / "data", clip_model=str(tiny_clip_dir), dtype="float32", images_dir=images
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
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


@pytest.fixture()
def browser(chromium, tmp_path):
    b = Chromium(chromium, tmp_path / "profile", tmp_path / "chromium.log")
    yield b
    b.close()


def open_page(browser: Chromium, url: str, width: int = 1280, height: int = 1000) -> str:
    """Open ``url`` in a new tab of the given size, wait until it settles; the tab's session."""
    target = browser.call("Target.createTarget", url="about:blank")["targetId"]
    session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    browser.call("Page.navigate", session, url=url)
    deadline = time.monotonic() + 20
    while not browser.evaluate(session, SETTLED):
        assert time.monotonic() < deadline, "the page did not settle in 20 s"
        time.sleep(0.1)
    return session


def test_page_asks_from_the_url_and_shows_the_answer_with_cited_photos(server, browser):
    session = open_page(browser, f"{server}/?{urlencode({'q': QUESTION, 'image': '1000.jpg'})}")

    page = browser.evaluate(
        session,
        """({
          answer: document.getElementById('answer').textContent,
          error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
          meta: document.getElementById('meta').textContent,
          question: document.getElementById('question').value,
        })""",
    )
    assert page["error"] is None, page
    assert page["question"] == QUESTION and page["answer"].strip(), page
    assert "属性问答（颜色）" in page["meta"] and "耗时" in page["meta"], page

    dom = browser.evaluate(session, "document.documentElement.outerHTML")
    imgs = re.findall(r"<img\b[^>]*>", dom)
    cited = [t for t in imgs if 'class="cited"' in t]
    loaded = [t for t in cited if 'data-loaded="1"' in t and re.search(r'src="/images/[^"]+"', t)]
    assert loaded, cited
    assert not [t for t in imgs if "data-broken" in t], imgs

    shot = browser.call("Page.captureScreenshot", session, format="png")["data"]
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
