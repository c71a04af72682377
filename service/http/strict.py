"""UTF-8 only: request bodies whose text is not UTF-8 get 422 instead of being guessed at.

Starlette decodes a multipart field or file name that is not UTF-8 as Latin-1, so a caption
sent in GBK would be stored garbled; JSON that is not UTF-8 gets a generic 400. Routes built
with :class:`StrictRoute` parse forms and JSON with strict UTF-8 decoding, and say which field
held the bad bytes. The path and query string are checked by :mod:`service.http.limits`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from contextlib import aclosing
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import parse_options_header


def not_utf8(where: str, err: UnicodeDecodeError) -> HTTPException:
    """The 422 for bytes that are not UTF-8 in ``where``."""
    return HTTPException(
        422,
        f"{where}: not valid UTF-8 (byte {err.start}: {err.object[err.start : err.start + 1]!r}); "
        "send text as UTF-8",
    )


#: The raw ``filename`` parameter of a Content-Disposition header.
_FILENAME = re.compile(rb'(?:^|;)\s*filename\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', re.IGNORECASE)


def _utf8(data: bytes | bytearray, where: str) -> str:
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as e:
        raise not_utf8(where, e) from None


class Utf8MultiPartParser(MultiPartParser):
    """Starlette's multipart parser with strict UTF-8 field names, file names and values."""

    def on_headers_finished(self) -> None:
        raw = self._current_part.content_disposition
        _, options = parse_options_header(raw)
        name = options.get(b"name")
        field = _utf8(name, "a multipart field name") if name is not None else None
        if b"filename" in options:
            _utf8(options[b"filename"], f"the file name in field {field!r}")
            # The parser turns C:\\x.jpg into x.jpg (an old browser's full path): refuse it.
            given = _FILENAME.search(raw)
            if given is not None and b"\\" in given.group(1):
                shown = given.group(1).decode("utf-8", "replace")
                raise HTTPException(
                    400,
                    f"{field}: the file name {shown} has a backslash (rule: folders are "
                    "separated by /)",
                )
        super().on_headers_finished()

    def on_part_end(self) -> None:
        if self._current_part.file is None:
            field = self._current_part.field_name
            value = _utf8(self._current_part.data, f"field {field!r}")
            self.items.append((field, value))
        else:
            super().on_part_end()


class StrictRequest(Request):
    """A request whose form and JSON bodies must be UTF-8 (422 naming the field otherwise)."""

    async def _get_form(
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        content_type, params = parse_options_header(self.headers.get("content-type"))
        if self._form is not None or content_type != b"multipart/form-data":
            return await super()._get_form(
                max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
            )
        charset = params.get(b"charset", b"utf-8")
        charset = charset.decode("latin-1") if isinstance(charset, bytes) else charset
        if charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise HTTPException(422, f"charset {charset!r}: the API takes UTF-8 text only")
        try:
            async with aclosing(self.stream()) as stream:
                parser = Utf8MultiPartParser(
                    self.headers,
                    stream,
                    max_files=max_files,
                    max_fields=max_fields,
                    max_part_size=max_part_size,
                )
                self._form = await parser.parse()
        except MultiPartException as e:
            raise HTTPException(400, e.message) from None
        return self._form

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            value = json.loads(_utf8(body.removeprefix(b"\xef\xbb\xbf"), "the JSON body"))
            bad = _surrogate(value)
            if bad is not None:
                raise HTTPException(422, f"the JSON body: a lone surrogate in {bad} is not text")
            self._json = value
        return self._json


def _surrogate(value: Any, where: str = "body") -> str | None:
    """Where a JSON value holds a string with a lone surrogate (``\\ud800``), or ``None``."""
    if isinstance(value, str):
        return where if _SURROGATES.search(value) else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if isinstance(key, str) and _SURROGATES.search(key):
            return where
        found = _surrogate(item, f"{where}.{key}")
        if found is not None:
            return found
    return None


_SURROGATES = re.compile("[\ud800-\udfff]")


class StrictRoute(APIRoute):
    """An API route whose handler gets a :class:`StrictRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictRequest(request.scope, request.receive, request._send))

        return strict
