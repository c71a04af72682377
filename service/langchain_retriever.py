"""The catalog as a langchain-core retriever, for LangChain users' own chains."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from service.retrieve import Retriever


class CatalogRetriever(BaseRetriever):
    """Hybrid catalog search as LangChain documents.

    Each document's ``page_content`` is the product caption (empty for unannotated photos) and
    its metadata holds ``image`` (the catalog file), ``score`` and ``id`` (the Qdrant point id).

    Args:
        retriever: tuwen's :class:`~service.retrieve.Retriever`.
        k: Documents per query.
        captioned_only: Return annotated products only.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any
    k: int = 8
    captioned_only: bool = False

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        r: Retriever = self.retriever
        hits = r.text_search(query, self.k, captioned_only=self.captioned_only)
        return [
            Document(
                page_content=h.caption or "",
                metadata={"image": h.file, "score": h.score, "id": h.id},
            )
            for h in hits
        ]
