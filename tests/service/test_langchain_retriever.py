"""The catalog as a LangChain retriever: LangChain's own standard tests, and tuwen's options."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.store import EdgeStore
from service.answering.retrieve import Retriever
from service.langchain_retriever import CatalogRetriever
from tests.conftest import make_catalog

N_PHOTOS, N_CAPTIONED = 8, 6


@pytest.fixture(scope="module")
def catalog_retriever(tiny_encoder, tmp_path_factory):
    """A :class:`Retriever` over eight photos, six with captions."""
    root = tmp_path_factory.mktemp("lc-catalog")
    images, captions = make_catalog(root, n=N_PHOTOS, captioned=N_CAPTIONED, sub=False)
    store = EdgeStore(root / "data")
    run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
    yield Retriever(store, tiny_encoder)
    store.close()


class TestCatalogRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's conventions: ``k`` in the constructor and per call, documents, ainvoke."""

    @pytest.fixture(autouse=True)
    def _catalog(self, catalog_retriever) -> None:
        self._retriever = catalog_retriever

    @property
    def retriever_constructor(self) -> type[CatalogRetriever]:
        return CatalogRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"retriever": self._retriever}

    @property
    def retriever_query_example(self) -> str:
        return "女士连衣裙 红色"


def test_per_call_k_and_options_override_the_constructor(catalog_retriever):
    lc = CatalogRetriever(retriever=catalog_retriever, k=5)
    assert len(lc.invoke("衬衫")) == 5
    assert len(lc.invoke("衬衫", k=1)) == 1
    assert len(lc.invoke("衬衫", k=N_PHOTOS)) == N_PHOTOS  # uncaptioned photos too
    annotated = lc.invoke("衬衫", k=N_PHOTOS, captioned_only=True)
    assert len(annotated) == N_CAPTIONED and all(d.page_content for d in annotated)
    assert len(lc.invoke("衬衫")) == 5  # a call's k does not stick


def test_documents_carry_the_catalog_file_score_and_id(catalog_retriever):
    caption = "Nike 女士蓝色运动T恤 5号"  # the caption of 1005.jpg
    lc = CatalogRetriever(retriever=catalog_retriever, k=3, search_kwargs={"exact_first": True})
    docs = lc.invoke(caption)
    assert isinstance(docs[0], Document) and docs[0].page_content == caption
    assert docs[0].metadata == {
        "image": "1005.jpg",
        "score": 1.0,
        "id": docs[0].metadata["id"],
        "caption_source": "caption",
    }
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_unknown_options_and_bad_k_name_the_field(catalog_retriever):
    with pytest.raises(ValueError, match="search_kwargs: unknown search option.*limit"):
        CatalogRetriever(retriever=catalog_retriever, search_kwargs={"limit": 3})
    lc = CatalogRetriever(retriever=catalog_retriever)
    with pytest.raises(ValueError, match="invoke: unknown search option.*top_k"):
        lc.invoke("衬衫", top_k=2)
    with pytest.raises(ValueError, match="invoke: k must be a positive whole number"):
        lc.invoke("衬衫", k=0)
    with pytest.raises(ValueError, match="CatalogRetriever.k"):
        CatalogRetriever(retriever=catalog_retriever, k=-1)


def test_filter_in_search_kwargs_keeps_matching_products(catalog_retriever) -> None:
    # six captions: 男士 on 0, 1, 2, 4; 女士 on 3, 5
    lc = CatalogRetriever(
        retriever=catalog_retriever, k=8, search_kwargs={"filter": {"gender": "女"}}
    )
    docs = lc.invoke("衬衫")
    assert len(docs) == 2 and all("女士" in d.page_content for d in docs)
    docs = lc.invoke("衬衫", filter={"gender": ["男"], "color": "黑色"})
    assert len(docs) == 2 and all("男士" in d.page_content for d in docs)
    with pytest.raises(ValueError, match="colour"):
        lc.invoke("衬衫", filter={"colour": "红"})
