"""The FastAPI app: one process owns the store and the models, loaded when the app starts.

Tests build the app with settings (the real service is built at startup), or hand it a
prebuilt :class:`Service` or a function that builds one; ``app.dependency_overrides`` on
:func:`service.http.deps.get_service` works too.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from ingest.settings import Settings
from service.answering.retrieve import ImageNotFound
from service.factory import build_service
from service.http.limits import BodyLimit
from service.http.routes import ROUTERS
from service.http.routes.files import web_assets
from service.http.schemas import ErrorModel
from service.http.state import Service
from service.http.uploads import UploadRejected

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
            is taken when the app starts, and closed when it stops.

    Returns:
        The app; the service is on ``app.state.service`` while it runs.
    """
    if settings is None:
        settings = service.settings if isinstance(service, Service) else Settings()
    source: ServiceSource = service if service is not None else (lambda: build_service(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = source if isinstance(source, Service) else source()
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
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    app.middleware("http")(count_requests)
    app.add_exception_handler(UploadRejected, _rejected)
    app.add_exception_handler(ImageNotFound, _no_image)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", web_assets(), name="static")
    return app


async def count_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Count every request and time it, labelled by its route's path template."""
    t0 = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    path = getattr(route, "path", "unmatched")
    service = getattr(request.app.state, "service", None)
    if service is not None:
        service.metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        service.metrics.latency.labels(path).observe(time.perf_counter() - t0)
    return response


async def _rejected(request: Request, exc: UploadRejected) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


async def _no_image(request: Request, exc: ImageNotFound) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)
