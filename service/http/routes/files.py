"""Files: catalog photos under ``/images/`` and the web page (``/`` and ``/static/``)."""

from __future__ import annotations

from importlib import resources
from pathlib import PurePosixPath

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from service.http.deps import ServiceDep
from service.http.schemas import ErrorModel
from service.http.uploads import safe_name

#: The package whose ``web`` folder (package data) holds the page's files.
WEB_PACKAGE = "service.http"

router = APIRouter(tags=["files"])


@router.get(
    "/images/{name:path}",
    responses={200: {"content": {"image/*": {}}}, 404: {"model": ErrorModel}},
    summary="a catalog photo (indexed files only)",
)
def image_file(service: ServiceDep, name: str) -> FileResponse:
    """An indexed photo, from the uploads folder or the catalog folder."""
    rel = safe_name(name)
    if service.store.get_file(rel) is None:
        raise HTTPException(404, f"{name!r} is not an indexed catalog image")
    for root in service.roots():
        path = (root / PurePosixPath(rel)).resolve()
        if path.is_relative_to(root) and path.is_file():
            return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
    raise HTTPException(404, f"{name!r} is indexed but its file is not in the served folders")


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
def index() -> HTMLResponse:
    """The web page."""
    page = resources.files(WEB_PACKAGE) / "web" / "index.html"
    return HTMLResponse(page.read_text(encoding="utf-8"))


def web_assets() -> StaticFiles:
    """The page's scripts and styles, served from the installed package (mount at ``/static``)."""
    return StaticFiles(packages=[(WEB_PACKAGE, "web")])
