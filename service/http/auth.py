"""Who may use the API: a bearer key (``TUWEN_API_KEY``) for writes, and for reads by setting.

One rule decides, by method and path, what a request is (:func:`access`): every method other
than GET, HEAD and OPTIONS is a write, except ``POST /v1/ask``, so a write endpoint added
later is guarded without anyone remembering to. :class:`AuthGuard` checks the key before the
body is read (a refused upload never reaches the disk), and :func:`document_security` marks
the same operations in the OpenAPI schema.

Keys are compared in constant time. The web page sends the key in the ``Authorization``
header; ``<img>`` elements cannot, so for ``GET /images/...`` the key may also come in the
``tuwen_key`` cookie (which is never accepted for a write).
"""

from __future__ import annotations

import hmac
import ipaddress
from http.cookies import SimpleCookie
from typing import Any, Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from service.http.limits import send_json

Access = Literal["write", "read", "open"]
#: Paths anyone may read: probes, the web page and the API's description.
OPEN_PATHS = frozenset({"/", "/healthz", "/readyz", "/openapi.json", "/docs", "/redoc"})
OPEN_PREFIXES = ("/static/", "/docs/")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Writes by method that only read: asking a question.
READ_POSTS = frozenset({"/v1/ask"})
COOKIE = "tuwen_key"
SCHEME = "bearer"


def access(method: str, path: str) -> Access:
    """What a request to ``path`` with ``method`` is: a write, a read, or open to anyone."""
    if method.upper() not in READ_METHODS and path not in READ_POSTS:
        return "write"
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return "open"
    return "read"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves only this machine (``localhost``, 127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class AuthGuard:
    """ASGI middleware: 401 for a write without the key, and for a read too with
    ``auth_reads``. Without a key set, nothing is required.

    Args:
        app: The wrapped ASGI app.
        key: ``TUWEN_API_KEY``, or ``None``.
        reads: ``TUWEN_AUTH_READS``: reads need the key too.
    """

    def __init__(self, app: ASGIApp, key: str | None, reads: bool = False) -> None:
        self.app = app
        self.key = key.encode() if key else None
        self.reads = reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.key is None:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope.get("path", "")
        kind = access(method, path)
        if kind == "open" or (kind == "read" and not self.reads):
            await self.app(scope, receive, send)
            return
        given = _bearer(scope)
        if given is None and kind == "read" and path.startswith("/images/"):
            given = _cookie(scope)
        if given is not None and hmac.compare_digest(given, self.key):
            await self.app(scope, receive, send)
            return
        what = "writes" if kind == "write" else "reads (TUWEN_AUTH_READS)"
        problem = "no API key was sent" if given is None else "the API key is not the right one"
        await send_json(
            send,
            401,
            f"{problem}: {what} need `Authorization: Bearer <TUWEN_API_KEY>`",
            close=_has_body(scope),
            headers=[(b"www-authenticate", b'Bearer realm="tuwen"')],
        )


def _bearer(scope: Scope) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
    return None


def _cookie(scope: Scope) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no key
                return None
            if COOKIE in jar:
                return jar[COOKIE].value.encode("latin-1", "replace")
    return None


def _has_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers", []))
    length = headers.get(b"content-length", b"0")
    return b"transfer-encoding" in headers or (length.isdigit() and int(length) > 0)


def document_security(schema: dict[str, Any], reads: bool) -> dict[str, Any]:
    """Mark the operations that need the key (by :func:`access`) in an OpenAPI schema.

    Args:
        schema: The app's OpenAPI schema, changed in place.
        reads: Whether reads need the key too.

    Returns:
        The schema.
    """
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["apiKey"] = {
        "type": "http",
        "scheme": SCHEME,
        "description": "TUWEN_API_KEY, for writes (and reads with TUWEN_AUTH_READS)",
    }
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            if not isinstance(op, dict) or method.upper() not in _HTTP_METHODS:
                continue
            kind = access(method, path)
            if kind == "write" or (kind == "read" and reads):
                op["security"] = [{"apiKey": []}]
                op.setdefault("responses", {}).setdefault(
                    "401", {"description": "the API key is missing or wrong"}
                )
    return schema


_HTTP_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
