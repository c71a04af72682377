"""``GET /v1/search``: hybrid text search over the catalog."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query

from service.http.deps import ServiceDep
from service.http.schemas import SearchResponse, SearchResult
from service.http.strict import StrictRoute
from service.http.text import SearchText

router = APIRouter(tags=["search"], route_class=StrictRoute)


@router.get(
    "/v1/search",
    response_model=SearchResponse,
    summary="Hybrid text search over the catalog",
    description="Products whose caption is exactly `q` come first (score 1.0), then the "
    "hybrid ranking (image and caption vectors and jieba keywords, fused with RRF).",
)
def search(
    service: ServiceDep,
    q: Annotated[SearchText, Query(description="product text (any stored caption fits)")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SearchResponse:
    """The ``k`` best products for the text ``q``."""
    t0 = time.perf_counter()
    hits = service.retriever.search(q, k, exact_first=True)
    service.metrics.stages.labels("search_total").observe(time.perf_counter() - t0)
    return SearchResponse(
        query=q,
        results=[
            SearchResult(
                image=h.file,
                caption=h.caption,
                score=h.score,
                id=h.id,
                caption_source=h.caption_source,
            )
            for h in hits
        ],
    )
