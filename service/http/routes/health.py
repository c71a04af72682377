"""Operations: ``/healthz`` (alive), ``/readyz`` (models loaded) and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from service.http.deps import ServiceDep
from service.http.schemas import Status
from service.http.strict import StrictRoute

router = APIRouter(tags=["operations"], route_class=StrictRoute)


@router.get("/healthz", response_model=Status)
def healthz() -> Status:
    """The process is up."""
    return Status(status="ok")


@router.get("/readyz", response_model=Status, responses={503: {"model": Status}})
def readyz(request: Request) -> Status | JSONResponse:
    """Ready once the store and models are loaded; the LLM backend's state under ``llm``."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        return JSONResponse({"status": "starting", "detail": {}}, status_code=503)
    llm = service.llm_status()
    return Status(
        status="ready",
        detail={
            "points": service.store.count(),
            "backend": llm["backend"] if llm else "extractive",
            "model": service.retriever.encoder.fingerprint.model,
            "warmup_ms": service.warmup_ms,
            "llm": llm,
        },
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics: requests, latencies, the LLM backend's state and the query cache."""
    service.metrics.observe_llm(service.llm_status())
    service.metrics.observe_cache(service.retriever.cache)
    return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")
