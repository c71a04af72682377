"""Timeouts and connections against the real app under uvicorn, over raw sockets: a body that
does not arrive gets 408, a client leaving mid-upload is one log line, and no error response
leaves the next request on a keep-alive connection to be reset."""

from __future__ import annotations

import http.client
import io
import logging
import socket
import threading
import time

import pytest
import uvicorn
from PIL import Image

from service.http import writes
from tests.service.http.conftest import AUTH, keyed_app

BODY_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_encoder, tiny_clip_dir):
    """The keyed app under uvicorn on a free port (a 1 s body deadline): ``(port, app)``."""
    app, _, _ = keyed_app(
        tmp_path_factory.mktemp("live"), tiny_encoder, tiny_clip_dir, body_timeout_s=BODY_TIMEOUT_S
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield port, app
    server.should_exit = True
    thread.join(15)


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (40, 90, 200)).save(buf, "PNG")
    return buf.getvalue()


def multipart(name: str) -> tuple[bytes, str]:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="images"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: image/png\r\n\r\n'
        + png()
        + b"\r\n--b--\r\n"
    )
    return body, "multipart/form-data; boundary=b"


def read_all(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except TimeoutError:
        pass
    return out


def test_a_body_that_does_not_arrive_gets_408_and_the_connection_closes(live, caplog):
    port, _ = live
    body, ctype = multipart("slow.png")
    with (
        caplog.at_level(logging.WARNING, logger="service.http.limits"),
        socket.create_connection(("127.0.0.1", port)) as sock,
    ):
        head = (
            f"POST /v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        t0 = time.monotonic()
        sock.sendall(head.encode() + body[:40])  # then nothing more
        reply = read_all(sock, 10)
        took = time.monotonic() - t0
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"connection: close" in reply.lower() and b"TUWEN_BODY_TIMEOUT_S" in reply
    assert BODY_TIMEOUT_S <= took < BODY_TIMEOUT_S + 5  # and the server closed the socket
    assert "408, the body did not arrive within 1 s" in caplog.text


def test_a_client_leaving_mid_upload_is_one_log_line(live, caplog):
    port, _ = live
    body, ctype = multipart("gone.png")
    with caplog.at_level(logging.INFO):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                f"POST /v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}"
                f"\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body[:60]
            )
            time.sleep(0.2)
        deadline = time.monotonic() + 5
        while "client left" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    left = [r for r in caplog.records if "client left" in r.getMessage()]
    assert len(left) == 1 and "POST /v1/products" in left[0].getMessage()
    assert "after 60 bytes" in left[0].getMessage()
    assert not any(r.exc_info for r in caplog.records), "no traceback"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def ok_after(conn: http.client.HTTPConnection) -> None:
    """The next request through the same client connection is answered normally."""
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    assert r.status == 200 and r.read() == b'{"status":"ok","detail":{}}'


@pytest.mark.parametrize("case", ["401 unread body", "413 declared", "400 bad name", "500"])
def test_no_error_response_breaks_the_next_request_on_the_connection(live, monkeypatch, case):
    port, _ = live
    body, ctype = multipart("a//b.png" if case == "400 bad name" else "ok.png")
    headers = {"Content-Type": ctype, **({} if case.startswith("401") else AUTH)}
    if case == "413 declared":
        body = body + b"x" * 400_000
    if case == "500":

        def broken(*a, **k):
            raise RuntimeError("boom")

        monkeypatch.setattr(writes, "index_items", broken)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v1/products", body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        assert r.status == int(case[:3])
        if case in ("401 unread body", "413 declared", "500"):
            assert r.getheader("connection") == "close"
        ok_after(conn)
        ok_after(conn)
    finally:
        conn.close()
