"""Query-string rules shared by the search routes: attribute filters and unknown fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import HTTPException, Query, Request

from ingest.store.facets import Filters
from service.answering.filters import canonical_filters
from service.http.state import Service

#: A repeatable attribute filter parameter (any of its values).
FilterParam = Annotated[list[str] | None, Query(description="repeatable: any of these values")]


def known_fields(*allowed: str) -> Callable[[Request], None]:
    """A dependency answering 422, naming the field, for a query field not in ``allowed``."""

    def check(request: Request) -> None:
        unknown = sorted({k for k in request.query_params if k not in allowed})
        if unknown:
            raise HTTPException(
                422,
                f"unknown query field {', '.join(map(repr, unknown))}; "
                f"known fields: {', '.join(allowed)}",
            )

    return check


def read_filters(service: Service, **given: list[str] | None) -> Filters:
    """The filter parameters as a canonical store filter (values read with the lexicon)."""
    try:
        return canonical_filters(
            {f: vs for f, vs in given.items() if vs}, service.retriever.lexicon
        )
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
