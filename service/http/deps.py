"""Dependencies the routes declare: the running service, and a multipart-only guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from service.http.state import Service


def get_service(request: Request) -> Service:
    """The app's :class:`Service`, or 503 while the app is still starting."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise HTTPException(503, "the service is starting")
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def multipart_only(hint: str) -> Callable[[Request], None]:
    """A dependency that answers 415 with ``hint`` unless the body is ``multipart/form-data``.

    Args:
        hint: What to send instead, in words.
    """

    def require_multipart(request: Request) -> None:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise HTTPException(415, hint)

    return require_multipart
