"""A fake OpenAI-compatible server whose behaviour a test switches while it runs."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

PIECES = ["图中商品", "是黑色的。", "[101.jpg]"]
MESSAGES = [
    {"role": "system", "content": "只用中文回答。"},
    {"role": "user", "content": "什么颜色？"},
]


class FakeOpenAI:
    """``/chat/completions`` under any prefix, answering as ``mode`` says.

    Modes: ``stream`` (PIECES over SSE), ``plain`` (one JSON completion), ``broken``
    (HTTP 500), ``error`` (an SSE error event). ``requests`` records every call.
    """

    def __init__(self) -> None:
        self.mode = "stream"
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                fake.answer(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        if self.mode == "broken":
            _send(handler, 500, "application/json", b'{"error": "model not loaded"}')
        elif self.mode == "plain":
            answer = {"choices": [{"message": {"role": "assistant", "content": "".join(PIECES)}}]}
            _send(handler, 200, "application/json", json.dumps(answer).encode())
        elif self.mode == "error":
            _send(
                handler, 200, "text/event-stream", b'data: {"error": {"message": "overloaded"}}\n\n'
            )
        else:
            chunks = [{"choices": [{"delta": {"role": "assistant"}}]}]
            chunks += [{"choices": [{"delta": {"content": p}}]} for p in PIECES]
            chunks += [{"choices": [{"delta": {}, "finish_reason": "stop"}]}]
            sse = "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks)
            payload = (": keep-alive\n\n" + sse + "data: [DONE]\n\n").encode()
            _send(handler, 200, "text/event-stream", payload)

    def __enter__(self) -> FakeOpenAI:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _send(handler: BaseHTTPRequestHandler, status: int, content_type: str, payload: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


@pytest.fixture()
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture()
def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens here any more


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
