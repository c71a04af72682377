"""Request and response models of the HTTP API (they make its OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AskRequest(BaseModel):
    question: str = Field(..., min_length=1, max_length=2000, examples=["图中商品是什么颜色？"])
    image: str | None = Field(
        None,
        max_length=1024,
        description="a catalog file name the question is about",
        examples=["12345.jpg"],
    )


class CitationModel(BaseModel):
    image: str
    caption: str | None
    score: float


class AnswerModel(BaseModel):
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
    image: str
    caption: str | None
    score: float
    id: str


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]


class ProductModel(BaseModel):
    image: str
    caption: str | None
    hash: str | None = None
    ingested_at: str | None = None


class ProductsResponse(BaseModel):
    added: int
    updated: int
    unchanged: int
    products: list[ProductModel]


class DeletedResponse(BaseModel):
    deleted: str


class ManifestResponse(BaseModel):
    files: dict[str, str] = Field(..., description="file → content hash of every indexed photo")


class Status(BaseModel):
    status: str
    detail: dict = Field(default_factory=dict)


class ErrorModel(BaseModel):
    detail: str | list
