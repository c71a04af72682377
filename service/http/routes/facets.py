"""``GET /v1/facets``: products per attribute value, over the catalog or a query's candidates."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from ingest.store.facets import FILTER_FIELDS
from service.answering.filters import SEARCH_FILTER_FIELDS
from service.http.deps import ServiceDep
from service.http.routes.query import FilterParam, known_fields, read_filters
from service.http.strict import StrictRoute
from service.http.text import SearchText

router = APIRouter(tags=["search"], route_class=StrictRoute)


class FacetCount(BaseModel):
    """One value of the field and how many products have it."""

    value: str
    count: int


class FacetResponse(BaseModel):
    """Counts per value of one attribute field, most first."""

    field: str
    query: str | None
    counts: list[FacetCount]


@router.get(
    "/v1/facets",
    response_model=FacetResponse,
    summary="Products per attribute value",
    description="Counts per value of `field` over the whole catalog, or with `q` over the "
    "query's `candidates` best products (the ranking of `/v1/search`), narrowed by the same "
    "filters as `/v1/search`. Qdrant's facet API counts them.",
    dependencies=[Depends(known_fields("field", "q", "candidates", *SEARCH_FILTER_FIELDS))],
)
def facets(
    service: ServiceDep,
    field: Annotated[str, Query(description=f"one of {', '.join(FILTER_FIELDS)}")],
    q: Annotated[SearchText | None, Query(description="count over this text's candidates")] = None,
    candidates: Annotated[int, Query(ge=1, le=1000)] = 50,
    color: FilterParam = None,
    gender: FilterParam = None,
    category: FilterParam = None,
    brand: FilterParam = None,
    usage: FilterParam = None,
) -> FacetResponse:
    """The counts per value of ``field``."""
    if field not in FILTER_FIELDS:
        raise HTTPException(
            422,
            f"field: {field!r} is not an attribute field; use one of {', '.join(FILTER_FIELDS)}",
        )
    filters = read_filters(
        service, color=color, gender=gender, category=category, brand=brand, usage=usage
    )
    t0 = time.perf_counter()
    ids = None
    if q:
        ids = [h.id for h in service.retriever.search(q, candidates, filters=filters)]
    counts = service.retriever.store.facets(field, filters, ids)
    service.metrics.stages.labels("facets_total").observe(time.perf_counter() - t0)
    return FacetResponse(
        field=field, query=q, counts=[FacetCount(value=v, count=c) for v, c in counts]
    )
