"""The composition root: the answering core and the HTTP server's state, built from settings
(store, encoders, retriever, generator, router)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ingest.models.fingerprint import ModelNotFound
from ingest.models.roles import encoders_for
from ingest.settings import Settings
from ingest.store import open_store
from service.answering.answerer import Answerer
from service.answering.photo import catalog_photo_path
from service.answering.retrieve import Retriever
from service.answering.vqa import VqaStage
from service.generation import generator_from
from service.http.state import Service
from service.routing import EmbeddingRouter, route


def router_from(settings: Settings):
    """The question router: rules, or an embedding classifier when a text model is set."""
    if not settings.router_model:
        return route
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(settings.router_model, device="cpu")
    except Exception as e:  # noqa: BLE001 - one clear message for any loading failure
        raise ModelNotFound(
            f"cannot load the router model {settings.router_model!r} ({e}); set "
            "TUWEN_ROUTER_MODEL to a local sentence-transformers directory, or unset it to "
            "route by rules"
        ) from e
    return EmbeddingRouter(model).route


def vqa_from(retriever: Retriever, settings: Settings) -> VqaStage:
    """The VQA stage for a retriever's model: its answer heads when the model's directory has
    them (:meth:`ingest.vqa.heads.AnswerHeads.load`), else zero-shot and the neighbour vote
    over a vocabulary mined from the collection's real captions (read when first needed).

    Raises:
        HeadsError: The model directory has heads files that cannot be used.
    """
    from ingest.attributes import caption_attributes
    from ingest.vqa.heads import AnswerHeads

    encoder = retriever.encoder
    model = Path(encoder.fingerprint.model)
    heads = AnswerHeads.load(model) if model.is_dir() else None
    lexicon = retriever.lexicon
    store = retriever.store

    def catalog() -> Iterator[Mapping[str, str | None]]:
        for caption, stored in store.real_captions():
            yield stored if stored is not None else caption_attributes(caption, lexicon)

    scale = getattr(getattr(encoder, "model", None), "logit_scale", None)
    return VqaStage(
        heads,
        encode_texts=lambda texts: encoder.encode_texts(texts),
        catalog=catalog,
        lexicon=lexicon,
        temperature=float(scale.detach().exp()) if scale is not None else 100.0,
        preprocess=encoder.preprocess,
        sources=settings.vqa_sources.split(","),
    )


@contextmanager
def open_answerer(settings: Settings, llm: str | None = None) -> Iterator[Answerer]:
    """An :class:`Answerer` over the settings' collection; the store closes on exit."""
    with open_store(settings) as store:
        store.require()
        retriever = Retriever(
            store,
            encoders_for(settings, store).query,
            look=settings.look,
            agreement=settings.attribute_agreement,
            likelihood=settings.attribute_likelihood,
            query_cache=settings.query_cache,
        )
        yield Answerer(
            retriever,
            generator_from(settings, llm),
            k=settings.top_k,
            token_budget=settings.token_budget,
            router=router_from(settings),
            photo_path=catalog_photo_path(settings.images_dir),
            vqa=vqa_from(retriever, settings),
        )


def build_service(
    settings: Settings, *, retriever_options: Mapping[str, Any] | None = None
) -> Service:
    """The HTTP server's state: open the store, load the models the settings name, warm up.

    Uploads embed with the document encoder, searches with the query encoder; concurrent
    searches share text-encoder calls (``batch_texts``, see :mod:`service.answering.batcher`).

    Args:
        settings: What to serve. A new data dir starts with an empty catalog.
        retriever_options: Keyword arguments for the :class:`Retriever` over the defaults
            (benchmarks compare ``batch_texts``, ``batch_max`` and ``batch_wait_ms``).

    Returns:
        The service; :meth:`Service.close` closes its store.
    """
    store = open_store(settings)
    retriever: Retriever | None = None
    try:
        encoders = encoders_for(settings, store)
        store.ensure(encoders.fingerprint)
        options = {
            "batch_texts": True,
            "look": settings.look,
            "agreement": settings.attribute_agreement,
            "likelihood": settings.attribute_likelihood,
            "query_cache": settings.query_cache,
            **(retriever_options or {}),
        }
        retriever = Retriever(store, encoders.query, **options)
        answerer = Answerer(
            retriever,
            generator_from(settings),
            k=settings.top_k,
            token_budget=settings.token_budget,
            router=router_from(settings),
            vqa=vqa_from(retriever, settings),
        )
    except Exception:
        if retriever is not None:
            retriever.close()
        store.close()
        raise
    uploads = (Path(settings.data_dir) / "uploads").resolve()
    uploads.mkdir(parents=True, exist_ok=True)
    service = Service(settings, store, answerer, encoders.document, uploads)
    answerer.photo_path = service.photo_path  # uploads, then the catalog folder
    service.warm_up()
    return service
