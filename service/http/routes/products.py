"""``/v1/products`` and ``/v1/manifest``: add, read and delete catalog products.

The rules (upload namespace, ``replace=true``, crash-safe files) live in
:mod:`service.http.writes`; this module checks the request and hands it over.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from ingest.images import is_image_name
from service.http.deps import ServiceDep, multipart_only
from service.http.schemas import (
    DeletedResponse,
    ErrorModel,
    ManifestResponse,
    ProductModel,
    ProductsResponse,
)
from service.http.strict import StrictRoute
from service.http.text import Caption
from service.http.uploads import UploadRejected, decode_photo, safe_name
from service.http.writes import Upload, add_products, delete_product, product_model

router = APIRouter(tags=["products"], route_class=StrictRoute)


def _invalid(field: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "type": "value_error", "msg": msg}])


@router.post(
    "/v1/products",
    response_model=ProductsResponse,
    responses={
        409: {"model": ErrorModel, "description": "a name is taken and replace is not true"},
        413: {"model": ErrorModel},
        415: {"model": ErrorModel},
    },
    summary="Add or update products: photos in `images`, their captions in `captions` (same order)",
    description="A name that is already a product with other content (a catalog photo or an "
    "earlier upload) is refused with 409 unless `replace=true`; `replaced` then lists what "
    "was replaced. The response lists exactly the products stored, as stored.",
    dependencies=[
        Depends(multipart_only("send multipart/form-data with fields images (files) and captions"))
    ],
    form_limits={"max_files": 256, "max_fields": 512},
)
async def add(
    service: ServiceDep,
    images: Annotated[list[UploadFile], File(description="product photos")],
    captions: Annotated[
        list[Caption] | None, Form(description="one caption per photo, in the same order")
    ] = None,
    replace: Annotated[
        bool, Query(description="replace products whose name is taken by other content")
    ] = False,
) -> ProductsResponse:
    """Save the photos, embed them with their captions and make them searchable at once."""
    if captions and len(captions) != len(images):
        raise _invalid(
            "captions", f"{len(captions)} captions for {len(images)} images; give one per image"
        )
    names = [safe_name(file.filename, "images") for file in images]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise _invalid(
                "images", f"{name!r} is sent twice (photos {seen[name] + 1} and {i + 1})"
            )
        seen[name] = i
    for name in names:
        if not is_image_name(name):
            raise UploadRejected(415, f"images: {name}: not an image file name")
    uploads = []
    side = service.decode_side()
    for i, (file, name) in enumerate(zip(images, names, strict=True)):
        data = await file.read()
        await decode_photo(service.budget, name, data, service.settings.max_upload_pixels, side)
        uploads.append(Upload(name, data, (captions[i] if captions else "") or None))
    return await run_in_threadpool(add_products, service, uploads, replace)


@router.get(
    "/v1/products/{image:path}",
    response_model=ProductModel,
    responses={404: {"model": ErrorModel}},
)
def get_product(service: ServiceDep, image: str) -> ProductModel:
    """One indexed product."""
    p = service.store.get_file(safe_name(image))
    if p is None:
        raise HTTPException(404, f"{image!r} is not an indexed product")
    return product_model(service, p)


@router.delete(
    "/v1/products/{image:path}",
    response_model=DeletedResponse,
    responses={404: {"model": ErrorModel}},
)
def delete(service: ServiceDep, image: str) -> DeletedResponse:
    """Remove a product from the index, and its photo when it was uploaded."""
    return delete_product(service, safe_name(image))


@router.get(
    "/v1/manifest",
    response_model=ManifestResponse,
    summary="content hash of every indexed photo",
)
def manifest(service: ServiceDep) -> ManifestResponse:
    """Every indexed photo with its content hash (``tuwen ingest --via`` sends only changes)."""
    return ManifestResponse(files={e.file: e.hash for e in service.store.manifest().values()})
