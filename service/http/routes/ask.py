"""``POST /v1/ask``: a question, with a catalog image or an uploaded photo, answered with
citations; as one JSON answer or streamed as server-sent events.

The question comes as JSON (``{question, image?}``) or as a multipart form (``question``,
``image``, and the ``photo`` file); each body type has its own route, chosen by the
request's content type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import Scope

from service.answering.answerer import Answer
from service.answering.retrieve import QueryImage
from service.http.deps import ServiceDep, multipart_only
from service.http.schemas import AnswerModel, AskRequest, ErrorModel
from service.http.state import Service
from service.http.strict import StrictRoute
from service.http.text import ImageName, Question
from service.http.uploads import decode_photo, safe_name

PATH = "/v1/ask"
Stream = Annotated[bool, Query(description="stream tokens as SSE")]

router = APIRouter(tags=["answering"], route_class=StrictRoute)


class JsonBodyRoute(StrictRoute):
    """A route that takes a request only when its body is JSON or has no content type, so
    that another route on the same path can take the other body types."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.FULL and not _is_json(scope):
            return Match.NONE, {}
        return match, child


def _is_json(scope: Scope) -> bool:
    for key, value in scope.get("headers", []):
        if key == b"content-type":
            return value.decode("latin-1").strip().lower().startswith("application/json")
    return True


async def ask_json(service: ServiceDep, body: AskRequest, stream: Stream = False) -> Any:
    """Answer a question sent as JSON."""
    return await _answer(service, body.question, body.image or None, None, stream)


# JSON bodies; the form route below documents both body types in the OpenAPI schema.
router.add_api_route(
    PATH,
    ask_json,
    methods=["POST"],
    response_model=AnswerModel,
    include_in_schema=False,
    route_class_override=JsonBodyRoute,
    strict_content_type=False,
)


@router.post(
    PATH,
    response_model=AnswerModel,
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": AskRequest.model_json_schema()}}}
    },
    responses={
        200: {"content": {"text/event-stream": {}}},
        404: {"model": ErrorModel},
        413: {"model": ErrorModel},
        415: {"model": ErrorModel},
    },
    summary="Answer a question about the catalog, citing images",
    description="The question comes as JSON `{question, image?}` or as a multipart form "
    "(`question`, and `image` or an uploaded `photo`). With `stream=true` the answer streams "
    "as server-sent events: `token` events, then one `answer` event (or an `error` event).",
    dependencies=[
        Depends(multipart_only("send application/json {question, image?} or multipart/form-data"))
    ],
    form_limits={"max_files": 1, "max_fields": 8},
)
async def ask(
    service: ServiceDep,
    question: Annotated[Question, Form()],
    image: Annotated[ImageName | None, Form(description="a catalog file name")] = None,
    photo: Annotated[UploadFile | None, File(description="an uploaded photo")] = None,
    stream: Stream = False,
) -> Any:
    """Answer a question sent as a multipart form, about a catalog image or an uploaded photo."""
    data = await photo.read() if photo is not None else None
    return await _answer(service, question, image or None, data, stream)


async def _answer(
    service: Service, question: str, image: str | None, photo: bytes | None, stream: bool
) -> Any:
    target = await _target(service, image, photo)
    if not stream:
        answer = await run_in_threadpool(service.answerer.ask, question, target)
        service.metrics.observe_answer(answer.timings)
        return answer.to_dict()
    return StreamingResponse(
        _sse(service, question, target),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _target(service: Service, image: str | None, photo: bytes | None) -> QueryImage | None:
    """The image the question is about: the uploaded photo, else the named catalog image."""
    if photo is not None:
        decoded = await decode_photo(
            service.budget,
            "photo.jpg",
            photo,
            service.settings.max_upload_pixels,
            service.decode_side(),
        )
        return await run_in_threadpool(service.retriever.resolve_image, decoded)
    if not image:
        return None
    name = safe_name(image, "image")
    if await run_in_threadpool(service.store.get_file, name) is None:
        raise HTTPException(404, f"image: {image!r} is not an indexed catalog image")
    return await run_in_threadpool(service.retriever.resolve_image, name)


def _sse(service: Service, question: str, target: QueryImage | None) -> Iterator[bytes]:
    """``token`` events as the answer is generated, then one ``answer`` event (or ``error``)."""
    try:
        for item in service.answerer.stream(question, target):
            if isinstance(item, Answer):
                service.metrics.observe_answer(item.timings)
                yield _event("answer", item.to_dict())
            else:
                yield _event("token", {"text": item})
    except Exception as e:  # noqa: BLE001 - the stream has started: report in-band
        yield _event("error", {"detail": f"{type(e).__name__}: {e}"})


def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
