"""``GET /v1/search``: hybrid text search over the catalog, filtered by attribute, variants
optionally collapsed; ``POST /v1/search``: a photo plus words ("this, but in red")."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from ingest.hits import Hit
from service.answering.composed import search_composed
from service.answering.filters import SEARCH_FILTER_FIELDS
from service.answering.variants import Group, search_collapsed, thresholds
from service.answering.variants import collapse as collapse_variants
from service.http.deps import ServiceDep
from service.http.routes.ask import _target as photo_target
from service.http.routes.query import FilterParam, known_fields, read_filters
from service.http.schemas import SearchResponse, SearchResult
from service.http.state import Service
from service.http.strict import StrictRoute
from service.http.text import ImageName, SearchText

router = APIRouter(tags=["search"], route_class=StrictRoute)


@router.get(
    "/v1/search",
    response_model=SearchResponse,
    summary="Hybrid text search over the catalog",
    description="Products whose caption is exactly `q` come first (score 1.0), then the "
    "hybrid ranking (image and caption vectors and jieba keywords, fused with RRF). "
    "`color`, `gender`, `category`, `brand`, `usage` keep only the products whose stored "
    "attribute is one of the given values (repeatable); an unknown query field is a 422. "
    "`collapse=true` returns `k` distinct products, each listing its near-identical photos "
    "(`variants`): Qdrant's grouping by the stored `variant` key once `tuwen duplicates "
    "--store` ran, else the ranked photos grouped by their vectors.",
    dependencies=[Depends(known_fields("q", "k", "collapse", *SEARCH_FILTER_FIELDS))],
)
def search(
    service: ServiceDep,
    q: Annotated[SearchText, Query(description="product text (any stored caption fits)")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    color: FilterParam = None,
    gender: FilterParam = None,
    category: FilterParam = None,
    brand: FilterParam = None,
    usage: FilterParam = None,
    collapse: Annotated[bool, Query(description="group variants into one result")] = False,
) -> SearchResponse:
    """The ``k`` best products for the text ``q``, filtered by attribute."""
    filters = read_filters(
        service, color=color, gender=gender, category=category, brand=brand, usage=usage
    )
    t0 = time.perf_counter()
    if collapse:
        limits = thresholds(service.settings)
        groups = search_collapsed(service.retriever, q, k, filters=filters, **limits)
    else:
        hits = service.retriever.search(q, k, exact_first=True, filters=filters)
        groups = [Group(h) for h in hits]
    service.metrics.stages.labels("search_total").observe(time.perf_counter() - t0)
    return _response(q, groups)


def _collapsed(service: Service, hits: list[Hit], collapse: bool) -> list[Group]:
    """The hits as results; with ``collapse``, variants folded into the best-ranked one."""
    if not collapse:
        return [Group(h) for h in hits]
    limits = thresholds(service.settings)
    return collapse_variants(service.retriever.store, hits, **limits)


def _response(query: str, groups: list[Group]) -> SearchResponse:
    """The response: each result lists the variants folded into it."""
    pairs = [(g.lead, g.members) for g in groups]
    return SearchResponse(
        query=query,
        results=[
            SearchResult(
                image=h.file,
                caption=h.caption,
                score=h.score,
                id=h.id,
                caption_source=h.caption_source,
                variants=[m.file for m in members],
            )
            for h, members in pairs
        ],
    )


@router.post(
    "/v1/search",
    response_model=SearchResponse,
    summary="Search by a photo plus words",
    description="A form (multipart to upload a photo): `q` (what should differ, e.g. 红色), and a catalog `image` "
    "name or an uploaded `photo`. The photo's image vector and the text's vector are combined, "
    "and the attributes the words state (colour, gender, usage...) replace the photo's own in "
    "an attribute-agreement ranking; the photo itself is not returned. Filters and `collapse` "
    "as for `GET /v1/search`.",
    form_limits={"max_files": 1, "max_fields": 32},
)
async def search_with_photo(
    service: ServiceDep,
    q: Annotated[SearchText, Form(description="the words: what should differ")],
    k: Annotated[int, Form(ge=1, le=100)] = 10,
    image: Annotated[ImageName | None, Form(description="a catalog file name")] = None,
    photo: Annotated[UploadFile | None, File(description="an uploaded photo")] = None,
    color: Annotated[list[str] | None, Form()] = None,
    gender: Annotated[list[str] | None, Form()] = None,
    category: Annotated[list[str] | None, Form()] = None,
    brand: Annotated[list[str] | None, Form()] = None,
    usage: Annotated[list[str] | None, Form()] = None,
    collapse: Annotated[bool, Form()] = False,
) -> SearchResponse:
    """The ``k`` products most like the photo, changed as the words say."""
    filters = read_filters(
        service, color=color, gender=gender, category=category, brand=brand, usage=usage
    )
    data = await photo.read() if photo is not None else None
    if data is None and not image:
        raise HTTPException(422, "send a photo or an image name with the words")
    target = await photo_target(service, image or None, data)
    assert target is not None
    t0 = time.perf_counter()
    hits = await run_in_threadpool(
        search_composed, service.retriever, target, q, k, filters=filters
    )
    service.metrics.stages.labels("search_total").observe(time.perf_counter() - t0)
    groups = await run_in_threadpool(_collapsed, service, hits, collapse)
    return _response(q, groups)
