"""Request and response models of the HTTP API (they make its OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.http.text import ImageName, Question

#: Where a product's photo is kept: the uploads folder, or the catalog folder (``--images``).
Origin = Literal["upload", "catalog"]


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
    caption_source: Literal["caption", "generated"] | None = Field(
        None, description="generated: the caption was written by a captioner, not for the photo"
    )


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
    caption_source: Literal["caption", "generated"] | None = Field(
        None, description="generated: the caption was written by a captioner, not for the photo"
    )
    variants: list[str] = Field(
        default_factory=list,
        description="with collapse=true: the near-identical photos folded into this result",
    )


class SearchResponse(BaseModel):
    """The ranked products for a text query."""

    query: str
    results: list[SearchResult]


class ProductModel(BaseModel):
    """An indexed product: its photo, caption, content hash, ingest time and origin."""

    image: str
    caption: str | None
    hash: str | None = None
    ingested_at: str | None = None
    origin: Origin | None = Field(None, description="upload or catalog: where its photo is kept")
    status: Literal["added", "updated", "unchanged"] | None = Field(
        None, description="what this request did to it (uploads only)"
    )


class ReplacedModel(BaseModel):
    """A product an upload with ``replace=true`` replaced: what it was before."""

    image: str
    origin: Origin
    caption: str | None
    hash: str | None = None


class FailedModel(BaseModel):
    """A photo of the request that was not stored, and why."""

    image: str
    reason: str


class ProductsResponse(BaseModel):
    """What ``POST /v1/products`` stored: exactly the products listed, as stored."""

    added: int
    updated: int
    unchanged: int
    products: list[ProductModel]
    replaced: list[ReplacedModel] = Field(
        default_factory=list, description="products this request replaced (replace=true)"
    )
    failed: list[FailedModel] = Field(default_factory=list, description="photos not stored")


class DeletedResponse(BaseModel):
    """The product ``DELETE /v1/products/{image}`` removed."""

    deleted: str
    origin: Origin


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
