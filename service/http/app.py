"""The FastAPI app: one process owns the store and the models, loaded when the app starts.

Tests build the app with settings (the real service is built at startup), or hand it a
prebuilt :class:`Service` or a function that builds one; ``app.dependency_overrides`` on
:func:`service.http.deps.get_service` works too.

Middleware, outermost first: :class:`~service.http.limits.RequestGuard` (body size and
deadline, UTF-8 paths, clean connections), :class:`RequestMetrics`,
:class:`~service.http.auth.AuthGuard` (the API key), then the routes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.settings import Settings
from service.answering.retrieve import ImageNotFound
from service.factory import build_service
from service.http.auth import AuthGuard, document_security
from service.http.blobs import reconcile
from service.http.limits import RequestGuard
from service.http.memory import tune_malloc
from service.http.routes import ROUTERS
from service.http.routes.files import web_assets
from service.http.schemas import ErrorModel
from service.http.state import Service
from service.http.uploads import UploadRejected

log = logging.getLogger(__name__)
# uploaded files younger than this are left at start-up when replicas share the uploads folder
RECONCILE_GRACE_S = 600.0

#: A prebuilt service, or a function that builds one when the app starts.
ServiceSource = Service | Callable[[], Service]


def create_app(
    settings: Settings | None = None, *, service: ServiceSource | None = None
) -> FastAPI:
    """The tuwen HTTP API.

    Args:
        settings: What to serve; default: :class:`Settings` from the environment (or the
            prebuilt service's settings).
        service: A prebuilt :class:`Service`, or a function that builds one; default:
            :func:`service.factory.build_service` from ``settings``. Either way the service
            is taken when the app starts (the uploads folder is then reconciled with the
            index, :func:`service.http.blobs.reconcile`), and closed when it stops.

    Returns:
        The app; the service is on ``app.state.service`` while it runs.
    """
    if settings is None:
        settings = service.settings if isinstance(service, Service) else Settings()
    source: ServiceSource = service if service is not None else (lambda: build_service(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_malloc()
        running = source if isinstance(source, Service) else source()
        try:
            # a Qdrant server may be shared by replicas whose uploads are in flight
            grace = RECONCILE_GRACE_S if running.settings.qdrant_url else 0.0
            reconcile(running.files, running.store, grace)
        except Exception:
            running.close()
            raise
        app.state.service = running
        try:
            yield
        finally:
            app.state.service.close()

    app = FastAPI(
        title="tuwen",
        version="0.1.0",
        summary="Questions about a product photo catalog, answered with cited images.",
        lifespan=lifespan,
        responses={400: {"model": ErrorModel}, 422: {"model": ErrorModel}},
    )
    key = settings.api_key.get_secret_value() if settings.api_key else None
    app.add_middleware(AuthGuard, key=key, reads=settings.auth_reads)
    app.add_middleware(RequestMetrics)
    app.add_middleware(
        RequestGuard, limit=settings.max_upload_bytes, timeout_s=settings.body_timeout_s
    )
    app.add_exception_handler(UploadRejected, _rejected)
    app.add_exception_handler(ImageNotFound, _no_image)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", web_assets(), name="static")
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = plain_openapi()
        if "apiKey" not in schema.get("components", {}).get("securitySchemes", {}):
            document_security(schema, settings.auth_reads)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class RequestMetrics:
    """ASGI middleware: count every request and time it, labelled by its route's path
    template (``unmatched`` for none) and status (500 for an error no handler took)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            service = getattr(scope.get("app") and scope["app"].state, "service", None)
            if service is not None:
                path = getattr(scope.get("route"), "path", "unmatched")
                service.metrics.requests.labels(scope["method"], path, str(status)).inc()
                service.metrics.latency.labels(path).observe(time.perf_counter() - t0)


async def _rejected(request: Request, exc: UploadRejected) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


async def _no_image(request: Request, exc: ImageNotFound) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)
