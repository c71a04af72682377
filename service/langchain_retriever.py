"""The catalog as a langchain-core retriever, for LangChain users' own chains."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, field_validator

from service.answering.filters import canonical_filters
from service.answering.retrieve import Retriever

#: The options of :meth:`Retriever.search` a call may set.
SEARCH_OPTIONS: frozenset[str] = frozenset(
    {"captioned_only", "exact_first", "lookalikes", "filter"}
)


def _check_options(options: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(options) - SEARCH_OPTIONS)
    if unknown:
        raise ValueError(
            f"{where}: unknown search option(s) {', '.join(unknown)}; "
            f"choose from k, {', '.join(sorted(SEARCH_OPTIONS))}"
        )
    return options


def _check_k(k: Any, where: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{where}: k must be a positive whole number, got {k!r}")
    return k


class CatalogRetriever(BaseRetriever):
    """Hybrid catalog search as LangChain documents.

    Each document's ``page_content`` is the product caption (empty for unannotated photos) and
    its metadata holds ``image`` (the catalog file), ``score``, ``id`` (the Qdrant point id) and
    ``caption_source`` (``generated`` for a caption a captioner wrote).
    A call may override ``k`` and the search options:
    ``retriever.invoke("白色运动鞋", k=3, exact_first=True)``.

    Args:
        retriever: tuwen's :class:`~service.answering.retrieve.Retriever`.
        k: Documents per query.
        captioned_only: Return annotated products only.
        search_kwargs: Further options of :meth:`Retriever.search` for every query
            (``exact_first``, ``lookalikes``, ``filter``: ``{field: value or [values]}`` over
            the stored attributes, e.g. ``{"color": "红", "gender": ["男", "女"]}``, values
            read as the captions were; an unknown field is a ``ValueError`` naming it).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 8
    captioned_only: bool = False
    search_kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("k")
    @classmethod
    def _positive_k(cls, k: int) -> int:
        return _check_k(k, "CatalogRetriever.k")

    @field_validator("search_kwargs")
    @classmethod
    def _known_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        return _check_options(dict(options), "CatalogRetriever.search_kwargs")

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` best products for ``query`` (``k`` and options per call override)."""
        k = _check_k(kwargs.pop("k", self.k), "CatalogRetriever.invoke")
        options = {
            "captioned_only": self.captioned_only,
            **self.search_kwargs,
            **_check_options(kwargs, "CatalogRetriever.invoke"),
        }
        wanted = options.pop("filter", None) or {}
        if not isinstance(wanted, dict):
            raise ValueError(f"CatalogRetriever: filter must be a dict, got {wanted!r}")
        filters = canonical_filters(
            {f: [v] if isinstance(v, str) else list(v) for f, v in wanted.items()},
            self.retriever.lexicon,
        )
        hits = self.retriever.search(query, k, filters=filters, **options)
        return [
            Document(
                page_content=h.caption or "",
                metadata={
                    "image": h.file,
                    "score": h.score,
                    "id": h.id,
                    "caption_source": h.caption_source,
                },
            )
            for h in hits
        ]
