"""Files: catalog photos under ``/images/`` and the web page (``/`` and ``/static/``)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from service.http.deps import ServiceDep
from service.http.schemas import ErrorModel
from service.http.strict import StrictRoute
from service.http.uploads import media_type, safe_name

#: The package whose ``web`` folder (package data) holds the page's files.
WEB_PACKAGE = "service.http"

router = APIRouter(tags=["files"], route_class=StrictRoute)


@router.get(
    "/images/{name:path}",
    responses={200: {"content": {"image/*": {}}}, 404: {"model": ErrorModel}},
    summary="a catalog photo (indexed files only)",
)
def image_file(service: ServiceDep, name: str) -> FileResponse:
    """An indexed photo, from the uploads folder or the catalog folder, served with the media
    type of its bytes (not of its name)."""
    rel = safe_name(name)
    if service.store.get_file(rel) is None:
        raise HTTPException(404, f"{name!r} is not an indexed catalog image")
    path = service.photo_path(rel)
    if path is None:
        raise HTTPException(404, f"{name!r} is indexed but its file is not in the served folders")
    with path.open("rb") as fh:
        kind = media_type(fh.read(16))
    return FileResponse(
        path,
        media_type=kind,
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
def index() -> HTMLResponse:
    """The web page."""
    page = resources.files(WEB_PACKAGE) / "web" / "index.html"
    return HTMLResponse(page.read_text(encoding="utf-8"))


def web_assets() -> StaticFiles:
    """The page's scripts and styles, served from the installed package (mount at ``/static``)."""
    return StaticFiles(packages=[(WEB_PACKAGE, "web")])
