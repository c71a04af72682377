"""Build the answering core from settings: store, encoder, retriever, generator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ingest.encoders import ClipEncoder, LazyClipEncoder, ModelNotFound
from ingest.settings import DEFAULT_CLIP_MODEL, Settings
from ingest.store import Store, open_store
from service.answer import Answerer
from service.llm import Generator, make_generator
from service.retrieve import Retriever
from service.router import EmbeddingRouter, route


def generator_from(settings: Settings, backend: str | None = None) -> Generator:
    """The generation backend the settings name (``backend`` overrides ``settings.llm``)."""
    name = backend or settings.llm_backend()
    if name == "auto":
        name = settings.model_copy(update={"llm": "auto"}).llm_backend()
    return make_generator(
        name,
        model=settings.llm_model,
        device=settings.device,
        dtype=settings.dtype,
        trust_remote_code=settings.llm_trust_remote_code,
        revision=settings.llm_revision,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
    )


def encoder_for(settings: Settings, store: Store, *, lazy: bool = False) -> ClipEncoder:
    """The CLIP model to use with ``store``: the one set, else the one the collection was
    built with, else the default for a new collection. ``lazy`` defers loading the weights
    until they are needed (its fingerprint is known at once)."""
    name = settings.clip_model
    if not name:
        fp = store.stored_fingerprint()
        name = fp.model if fp else DEFAULT_CLIP_MODEL
    kw = {
        "revision": settings.clip_revision,
        "device": settings.device,
        "dtype": settings.dtype,
        "int8_runtime": settings.int8_runtime,
        "cache_dir": settings.cache_dir,
    }
    # Captions are embedded with the float text tower (they are stored); queries may use int8.
    vision = ("vision",) if settings.image_int8 else ()
    if lazy:
        return LazyClipEncoder(name, int8=vision, **kw)  # type: ignore[return-value]
    return ClipEncoder.from_pretrained(
        name, int8=vision + (("text",) if settings.text_int8 else ()), **kw
    )


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


@contextmanager
def open_answerer(settings: Settings, llm: str | None = None) -> Iterator[Answerer]:
    """An :class:`Answerer` over the settings' collection; the store closes on exit."""
    with open_store(settings) as store:
        store.require()
        retriever = Retriever(store, encoder_for(settings, store), look=settings.look)
        yield Answerer(
            retriever,
            generator_from(settings, llm),
            k=settings.top_k,
            token_budget=settings.token_budget,
            router=router_from(settings),
        )
