"""The HTTP API: a thin FastAPI layer over the answering core.

One process owns the store and the models; they are loaded in the lifespan, not at import.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from ingest.catalog import CatalogItem
from ingest.job import index_items
from ingest.settings import Settings
from ingest.store import Store, open_store, point_id
from service.answer import Answer, Answerer
from service.factory import encoder_for, generator_from, router_from
from service.metrics import Metrics
from service.retrieve import ImageNotFound, QueryImage, Retriever
from service.schemas import (
    AnswerModel,
    AskRequest,
    DeletedResponse,
    ErrorModel,
    ManifestResponse,
    ProductModel,
    ProductsResponse,
    SearchResponse,
    SearchResult,
    Status,
)
from service.uploads import UploadRejected, check_photo, safe_name, save_atomic

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).resolve().parent / "web"
UPLOAD_PATHS = ("/v1/ask", "/v1/products")


@dataclass
class Service:
    """What the running server holds: settings, store, models and the answering core."""

    settings: Settings
    store: Store
    answerer: Answerer
    uploads_dir: Path
    metrics: Metrics = field(default_factory=Metrics)
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    warmup_ms: float | None = None

    def warm_up(self) -> None:
        """One search before the server reports ready, so the first user's request does not
        pay for reading the store's index from disk (hundreds of ms on a 100k catalog) or the
        text tower's first call. Skipped on an empty catalog; a failure is logged, not fatal
        (the same error will then show on the first real search)."""
        if not self.store.count():
            return
        t0 = time.perf_counter()
        try:
            self.retriever.text_search("商品", k=1)
        except Exception:  # noqa: BLE001 - warming must not stop the server
            log.exception("the warm-up search failed")
            return
        self.warmup_ms = (time.perf_counter() - t0) * 1000

    @property
    def retriever(self) -> Retriever:
        return self.answerer.retriever

    def roots(self) -> list[Path]:
        """Folders catalog photos are served from: uploads first, then the catalog folder."""
        roots = [self.uploads_dir]
        if self.settings.images_dir:
            roots.append(Path(self.settings.images_dir).resolve())
        return roots


def build_service(settings: Settings) -> Service:
    """Open the store and load the models the settings name."""
    store = open_store(settings)
    retriever: Retriever | None = None
    try:
        encoder = encoder_for(settings, store)
        store.ensure(encoder.fingerprint)  # a new server starts with an empty catalog
        # Concurrent searches share text-encoder calls (see service/batcher.py).
        retriever = Retriever(store, encoder, batch_texts=True, look=settings.look)
        answerer = Answerer(
            retriever,
            generator_from(settings),
            k=settings.top_k,
            token_budget=settings.token_budget,
            router=router_from(settings),
        )
    except Exception:
        if retriever is not None:
            retriever.close()
        store.close()
        raise
    uploads = (Path(settings.data_dir) / "uploads").resolve()
    uploads.mkdir(parents=True, exist_ok=True)
    service = Service(settings, store, answerer, uploads)
    service.warm_up()
    return service


class BodyLimit:
    """ASGI middleware: 413 for request bodies over the limit, with or without Content-Length."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length" and v.isdigit() and int(v) > self.limit:
                await _send_json(send, 413, f"request body over {self.limit} bytes")
                return
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


async def _send_json(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(
    settings: Settings | None = None, *, service_factory: Callable[[], Service] | None = None
) -> FastAPI:
    """The FastAPI app. The service is built when the app starts (lifespan), from
    ``service_factory`` if given (tests inject one), else from ``settings``."""
    settings = settings or Settings()
    factory = service_factory or (lambda: build_service(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.service = factory()
        try:
            yield
        finally:
            app.state.service.retriever.close()
            app.state.service.store.close()

    app = FastAPI(
        title="tuwen",
        version="0.1.0",
        summary="Questions about a product photo catalog, answered with cited images.",
        lifespan=lifespan,
        responses={400: {"model": ErrorModel}, 422: {"model": ErrorModel}},
    )
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)

    def svc(request: Request) -> Service:
        s = getattr(request.app.state, "service", None)
        if s is None:
            raise HTTPException(503, "the service is starting")
        return s

    @app.middleware("http")
    async def count_requests(request: Request, call_next):
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        s = getattr(request.app.state, "service", None)
        if s is not None:
            s.metrics.requests.labels(request.method, path, str(response.status_code)).inc()
            s.metrics.latency.labels(path).observe(time.perf_counter() - t0)
        return response

    @app.exception_handler(UploadRejected)
    async def _rejected(request: Request, exc: UploadRejected):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(ImageNotFound)
    async def _no_image(request: Request, exc: ImageNotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    # ------------------------------------------------------------------ answering
    ask_body = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": AskRequest.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["question"],
                        "properties": {
                            "question": {"type": "string", "minLength": 1, "maxLength": 2000},
                            "image": {"type": "string", "description": "a catalog file name"},
                            "photo": {
                                "type": "string",
                                "format": "binary",
                                "description": "an uploaded photo",
                            },
                        },
                    }
                },
            },
        }
    }

    @app.post(
        "/v1/ask",
        response_model=AnswerModel,
        openapi_extra=ask_body,
        responses={
            200: {"content": {"text/event-stream": {}}},
            404: {"model": ErrorModel},
            413: {"model": ErrorModel},
            415: {"model": ErrorModel},
        },
        summary="Answer a question about the catalog, citing images",
    )
    async def ask(
        request: Request, stream: Annotated[bool, Query(description="stream tokens as SSE")] = False
    ):
        s = svc(request)
        question, image, photo = await _ask_input(request)
        target: QueryImage | None = None
        from starlette.concurrency import run_in_threadpool

        if photo is not None:
            decoded = await run_in_threadpool(
                check_photo, "upload.jpg", photo, s.settings.max_upload_pixels
            )
            target = await run_in_threadpool(s.retriever.resolve_image, decoded)
        elif image:
            name = safe_name(image, "image")
            stored = await run_in_threadpool(s.store.get_file, name)
            if stored is None:
                raise HTTPException(404, f"image: {image!r} is not an indexed catalog image")
            target = await run_in_threadpool(s.retriever.resolve_image, name)
        if not stream:
            answer = await run_in_threadpool(s.answerer.ask, question, target)
            s.metrics.observe_answer(answer.timings)
            return answer.to_dict()
        return StreamingResponse(
            _sse(s, question, target),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get(
        "/v1/search",
        response_model=SearchResponse,
        summary="Hybrid text search over the catalog",
        description="Products whose caption is exactly `q` come first (score 1.0), then the "
        "hybrid ranking (image and caption vectors and jieba keywords, fused with RRF).",
    )
    def search(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=1000, description="product text")],
        k: Annotated[int, Query(ge=1, le=100)] = 10,
    ):
        s = svc(request)
        t0 = time.perf_counter()
        hits = s.retriever.search_products(q, k)
        s.metrics.stages.labels("search_total").observe(time.perf_counter() - t0)
        return SearchResponse(
            query=q,
            results=[
                SearchResult(image=h.file, caption=h.caption, score=h.score, id=h.id) for h in hits
            ],
        )

    # ------------------------------------------------------------------ products
    products_body = {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["images"],
                        "properties": {
                            "images": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            },
                            "captions": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                }
            },
        }
    }

    @app.post(
        "/v1/products",
        response_model=ProductsResponse,
        openapi_extra=products_body,
        responses={413: {"model": ErrorModel}, 415: {"model": ErrorModel}},
        summary="Add or update products: photos in `images`, their captions in `captions` (same order)",
    )
    async def add_products(request: Request):
        s = svc(request)
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise HTTPException(
                415, "send multipart/form-data with fields images (files) and captions"
            )
        form = await request.form(max_files=256, max_fields=512)
        files = form.getlist("images")
        captions = form.getlist("captions")
        if not files:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "images"),
                        "msg": "at least one photo is required",
                        "type": "missing",
                    }
                ]
            )
        if any(isinstance(f, str) for f in files):
            raise RequestValidationError(
                [{"loc": ("body", "images"), "msg": "images must be files", "type": "value_error"}]
            )
        if captions and len(captions) != len(files):
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "captions"),
                        "type": "value_error",
                        "msg": f"{len(captions)} captions for {len(files)} images; give one per image (same order)",
                    }
                ]
            )
        if any(not isinstance(c, str) for c in captions):
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "captions"),
                        "msg": "captions must be text",
                        "type": "value_error",
                    }
                ]
            )
        uploads = []
        for i, f in enumerate(files):
            name = safe_name(f.filename, "images")
            data = await f.read()
            check_photo(name, data, s.settings.max_upload_pixels)
            caption = (captions[i].strip() if captions else "") or None
            if caption and len(caption) > 2000:
                raise RequestValidationError(
                    [
                        {
                            "loc": ("body", "captions", i),
                            "msg": "caption over 2000 characters",
                            "type": "value_error",
                        }
                    ]
                )
            uploads.append((name, data, caption))
        from starlette.concurrency import run_in_threadpool

        report = await run_in_threadpool(_index_uploads, s, uploads)
        return report

    @app.get(
        "/v1/products/{image:path}",
        response_model=ProductModel,
        responses={404: {"model": ErrorModel}},
    )
    def get_product(request: Request, image: str):
        s = svc(request)
        p = s.store.get_file(safe_name(image))
        if p is None:
            raise HTTPException(404, f"{image!r} is not an indexed product")
        return ProductModel(
            image=p.file,
            caption=p.caption,
            hash=p.payload.get("hash"),
            ingested_at=p.payload.get("ingested_at"),
        )

    @app.delete(
        "/v1/products/{image:path}",
        response_model=DeletedResponse,
        responses={404: {"model": ErrorModel}},
    )
    def delete_product(request: Request, image: str):
        s = svc(request)
        name = safe_name(image)
        with s.write_lock:
            p = s.store.get_file(name)
            if p is None:
                raise HTTPException(404, f"{image!r} is not an indexed product")
            s.store.delete([p.id])
            uploaded = s.uploads_dir / name
            if uploaded.is_file():
                uploaded.unlink()
        return DeletedResponse(deleted=name)

    @app.get(
        "/v1/manifest",
        response_model=ManifestResponse,
        summary="content hash of every indexed photo",
    )
    def manifest(request: Request):
        s = svc(request)
        return ManifestResponse(files={e.file: e.hash for e in s.store.manifest().values()})

    # ------------------------------------------------------------------ images and ops
    @app.get(
        "/images/{name:path}",
        responses={200: {"content": {"image/*": {}}}, 404: {"model": ErrorModel}},
        summary="a catalog photo (indexed files only)",
    )
    def image_file(request: Request, name: str):
        s = svc(request)
        rel = safe_name(name)
        if s.store.get_file(rel) is None:
            raise HTTPException(404, f"{name!r} is not an indexed catalog image")
        for root in s.roots():
            path = (root / PurePosixPath(rel)).resolve()
            if path.is_relative_to(root) and path.is_file():
                return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
        raise HTTPException(404, f"{name!r} is indexed but its file is not in the served folders")

    @app.get("/healthz", response_model=Status)
    def healthz():
        return Status(status="ok")

    @app.get("/readyz", response_model=Status, responses={503: {"model": Status}})
    def readyz(request: Request):
        s = getattr(request.app.state, "service", None)
        if s is None:
            return JSONResponse({"status": "starting", "detail": {}}, status_code=503)
        return Status(
            status="ready",
            detail={
                "points": s.store.count(),
                "backend": s.answerer.generator.name,
                "model": s.retriever.encoder.fingerprint.model,
                "warmup_ms": s.warmup_ms,
            },
        )

    @app.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    def metrics(request: Request):
        return Response(svc(request).metrics.render(), media_type="text/plain; version=0.0.4")

    if WEB_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

        @app.get("/", include_in_schema=False)
        def index():
            return FileResponse(WEB_DIR / "index.html")

    return app


async def _ask_input(request: Request) -> tuple[str, str | None, bytes | None]:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=8)
        question = form.get("question")
        image = form.get("image")
        photo = form.get("photo")
        if not isinstance(question, str) or not question.strip():
            raise RequestValidationError(
                [{"loc": ("body", "question"), "msg": "a question is required", "type": "missing"}]
            )
        if len(question) > 2000:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "question"),
                        "msg": "over 2000 characters",
                        "type": "value_error",
                    }
                ]
            )
        if image is not None and not isinstance(image, str):
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "image"),
                        "msg": "image is a catalog file name; upload a photo in the photo field",
                        "type": "value_error",
                    }
                ]
            )
        data = None
        if photo is not None:
            if isinstance(photo, str):
                raise RequestValidationError(
                    [
                        {
                            "loc": ("body", "photo"),
                            "msg": "photo must be a file",
                            "type": "value_error",
                        }
                    ]
                )
            data = await photo.read()
        return question.strip(), image or None, data
    if ctype.startswith("application/json") or not ctype:
        try:
            payload = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RequestValidationError(
                [{"loc": ("body",), "msg": f"invalid JSON: {e}", "type": "json_invalid"}]
            ) from None
        try:
            req = AskRequest.model_validate(payload)
        except ValidationError as e:
            raise RequestValidationError(
                e.errors(include_url=False, include_context=False)
            ) from None
        if not req.question.strip():
            raise RequestValidationError(
                [{"loc": ("body", "question"), "msg": "a question is required", "type": "missing"}]
            )
        return req.question.strip(), req.image or None, None
    raise HTTPException(415, "send application/json {question, image?} or multipart/form-data")


def _sse(s: Service, question: str, target: QueryImage | None) -> Iterator[bytes]:
    try:
        for item in s.answerer.stream(question, target):
            if isinstance(item, Answer):
                s.metrics.observe_answer(item.timings)
                yield _event("answer", item.to_dict())
            else:
                yield _event("token", {"text": item})
    except Exception as e:  # noqa: BLE001 - the stream has started: report in-band
        yield _event("error", {"detail": f"{type(e).__name__}: {e}"})


def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _index_uploads(s: Service, uploads: list[tuple[str, bytes, str | None]]) -> ProductsResponse:
    with s.write_lock:
        items = []
        for name, data, caption in uploads:
            path = save_atomic(s.uploads_dir, name, data)
            items.append(CatalogItem(name, path, caption))
        report = index_items(
            items, s.store, s.retriever.encoder, max_pixels=s.settings.max_upload_pixels
        )
        stored = {p.file: p.payload for p in s.store.get([point_id(n) for n, _, _ in uploads])}
    if report.failed:
        raise UploadRejected(422, "; ".join(f"{f['file']}: {f['reason']}" for f in report.failed))
    return ProductsResponse(
        added=report.added,
        updated=report.updated,
        unchanged=report.unchanged,
        products=[
            ProductModel(
                image=n,
                caption=c,
                hash=stored.get(n, {}).get("hash"),
                ingested_at=stored.get(n, {}).get("ingested_at"),
            )
            for n, _, c in uploads
        ],
    )
