"""What every request is held to before and while a route reads it: a body size limit, a
body deadline, UTF-8 paths and queries, and connections left in a clean state.

:class:`RequestGuard` is the outermost middleware of the app:

- A body over ``TUWEN_MAX_UPLOAD_BYTES`` gets 413, declared or counted as it arrives.
- A body must arrive within ``TUWEN_BODY_TIMEOUT_S`` of the request's start, else 408.
- A path or query string whose percent-escapes are not UTF-8 gets 422.
- A response sent before the body was read to its end (a refusal), and every 5xx, carries
  ``Connection: close``: the connection then ends cleanly after the response, instead of the
  rest of the body being read as the next request.
- An error no handler took becomes a JSON 500 (logged once with its traceback); a client that
  leaves mid-request is logged in one line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class RequestGuard:
    """ASGI middleware: body size and deadline, UTF-8 paths and queries, clean connections.

    Args:
        app: The wrapped ASGI app.
        limit: The largest body accepted, in bytes (``TUWEN_MAX_UPLOAD_BYTES``).
        timeout_s: Seconds the whole body may take to arrive (``TUWEN_BODY_TIMEOUT_S``).
    """

    def __init__(self, app: ASGIApp, limit: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.limit = limit
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        what = f"{scope['method']} {scope.get('path', '')}"
        bad = _not_utf8(scope)
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"")
        has_body = (declared.isdigit() and int(declared) > 0) or b"transfer-encoding" in headers
        if bad is None and declared.isdigit() and int(declared) > self.limit:
            bad = (413, f"request body over {self.limit} bytes")
        if bad is not None:
            await send_json(send, bad[0], bad[1], close=has_body)
            return
        state = _State(body_done=not has_body, deadline=time.monotonic() + self.timeout_s)

        async def guarded_receive() -> Message:
            if state.body_done:
                message = await receive()
            else:
                remaining = state.deadline - time.monotonic()
                try:
                    message = await asyncio.wait_for(receive(), max(remaining, 0.001))
                except asyncio.TimeoutError:
                    state.timed_out = True
                    raise HTTPException(
                        408,
                        f"the request body did not arrive within {self.timeout_s:g} s "
                        f"(TUWEN_BODY_TIMEOUT_S); {state.seen} bytes came",
                    ) from None
            if message["type"] == "http.disconnect":
                state.gone = True
            elif message["type"] == "http.request":
                state.seen += len(message.get("body", b""))
                if state.seen > self.limit:
                    raise HTTPException(413, f"request body over {self.limit} bytes")
                if not message.get("more_body", False):
                    state.body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state.started = True
                if not state.body_done or message["status"] >= 500:
                    message = {**message, "headers": _closing(message.get("headers", []))}
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if state.gone:
                pass
            elif state.started:
                log.exception("%s failed after its response started", what)
            else:
                log.exception("%s failed", what)
                await send_json(send, 500, "internal error (logged by the server)", close=True)
        if state.gone and not state.body_done:
            log.warning("%s: the client left after %d bytes of the request body", what, state.seen)
        elif state.timed_out:
            log.warning(
                "%s: 408, the body did not arrive within %g s (%d bytes came)",
                what,
                self.timeout_s,
                state.seen,
            )


class _State:
    """What :class:`RequestGuard` knows about one request."""

    def __init__(self, body_done: bool, deadline: float) -> None:
        self.body_done = body_done
        self.deadline = deadline
        self.seen = 0
        self.started = False
        self.gone = False
        self.timed_out = False


def _closing(headers: Any) -> list[tuple[bytes, bytes]]:
    out = [(k, v) for k, v in headers if k.lower() != b"connection"]
    return [*out, (b"connection", b"close")]


def _not_utf8(scope: Scope) -> tuple[int, str] | None:
    """A 422 for a path or query string whose bytes are not UTF-8, else ``None``."""
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as e:
        return 422, f"path: not valid UTF-8 (byte {e.start}); send names as UTF-8"
    query = scope.get("query_string", b"")
    try:
        parse_qsl(query.decode("latin-1"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as e:
        return 422, f"query: not valid UTF-8 (byte {e.start}); send text as UTF-8"
    return None


async def send_json(
    send: Send, status: int, detail: Any, *, close: bool = False, headers: Any = ()
) -> None:
    """Send a whole JSON ``{"detail": ...}`` response from a middleware."""
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _closing(raw) if close else raw,
        }
    )
    await send({"type": "http.response.body", "body": body})
