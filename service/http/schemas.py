"""Request and response models of the HTTP API (they make its OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

#: A question: surrounding whitespace is dropped, then 1 to 2000 characters must remain.
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
#: A catalog file name in a request.
ImageName = Annotated[str, StringConstraints(max_length=1024)]
#: A product caption: surrounding whitespace is dropped, then at most 2000 characters.
Caption = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class AskRequest(BaseModel):
    """The JSON body of ``POST /v1/ask``."""

    question: Question = Field(..., examples=["图中商品是什么颜色？"])
    image: ImageName | None = Field(
        None, description="a catalog file name the question is about", examples=["12345.jpg"]
    )


class CitationModel(BaseModel):
    """One cited catalog photo."""

    image: str
    caption: str | None
    score: float


class AnswerModel(BaseModel):
    """An answer with its citations."""

    question: str
    kind: str = Field(..., description="retrieve, describe or attribute")
    attribute: str | None = None
    answer: str
    citations: list[CitationModel]
    backend: str
    timings: dict[str, float] = Field(..., description="milliseconds per stage")
    image: str | None = None
    meta: dict = Field(default_factory=dict)


class SearchResult(BaseModel):
    """One product found by ``GET /v1/search``."""

    image: str
    caption: str | None
    score: float
    id: str


class SearchResponse(BaseModel):
    """The ranked products for a text query."""

    query: str
    results: list[SearchResult]


class ProductModel(BaseModel):
    """An indexed product: its photo, caption, content hash and ingest time."""

    image: str
    caption: str | None
    hash: str | None = None
    ingested_at: str | None = None


class ProductsResponse(BaseModel):
    """What ``POST /v1/products`` did."""

    added: int
    updated: int
    unchanged: int
    products: list[ProductModel]


class DeletedResponse(BaseModel):
    """The product ``DELETE /v1/products/{image}`` removed."""

    deleted: str


class ManifestResponse(BaseModel):
    """Every indexed photo with its content hash."""

    files: dict[str, str] = Field(..., description="file → content hash of every indexed photo")


class Status(BaseModel):
    """Liveness or readiness, with details."""

    status: str
    detail: dict = Field(default_factory=dict)


class ErrorModel(BaseModel):
    """An error: a message, or FastAPI's list of validation errors."""

    detail: str | list
