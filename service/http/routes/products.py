"""``/v1/products`` and ``/v1/manifest``: add, read and delete catalog products."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from ingest.catalog import CatalogItem
from ingest.job import index_items
from ingest.store import point_id
from service.http.deps import ServiceDep, multipart_only
from service.http.schemas import (
    Caption,
    DeletedResponse,
    ErrorModel,
    ManifestResponse,
    ProductModel,
    ProductsResponse,
)
from service.http.state import Service
from service.http.uploads import UploadRejected, check_photo, safe_name, save_atomic

router = APIRouter(tags=["products"])


@router.post(
    "/v1/products",
    response_model=ProductsResponse,
    responses={413: {"model": ErrorModel}, 415: {"model": ErrorModel}},
    summary="Add or update products: photos in `images`, their captions in `captions` (same order)",
    dependencies=[
        Depends(multipart_only("send multipart/form-data with fields images (files) and captions"))
    ],
    form_limits={"max_files": 256, "max_fields": 512},
)
async def add_products(
    service: ServiceDep,
    images: Annotated[list[UploadFile], File(description="product photos")],
    captions: Annotated[
        list[Caption] | None, Form(description="one caption per photo, in the same order")
    ] = None,
) -> ProductsResponse:
    """Save the photos, embed them with their captions and make them searchable at once."""
    if captions and len(captions) != len(images):
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "captions"),
                    "type": "value_error",
                    "msg": f"{len(captions)} captions for {len(images)} images; give one per "
                    "image (same order)",
                }
            ]
        )
    uploads = []
    for i, file in enumerate(images):
        name = safe_name(file.filename, "images")
        data = await file.read()
        await run_in_threadpool(check_photo, name, data, service.settings.max_upload_pixels)
        uploads.append((name, data, (captions[i] if captions else "") or None))
    return await run_in_threadpool(index_uploads, service, uploads)


def index_uploads(
    service: Service, uploads: list[tuple[str, bytes, str | None]]
) -> ProductsResponse:
    """Save checked uploads and index them with the document encoder.

    Args:
        service: The running service.
        uploads: ``(file name, bytes, caption)`` per photo.

    Raises:
        UploadRejected: 422 naming every photo that could not be indexed.
    """
    with service.write_lock:
        items = [
            CatalogItem(name, save_atomic(service.uploads_dir, name, data), caption)
            for name, data, caption in uploads
        ]
        report = index_items(
            items,
            service.store,
            service.document_encoder,
            max_pixels=service.settings.max_upload_pixels,
        )
        stored = {
            p.file: p.payload for p in service.store.get([point_id(n) for n, _, _ in uploads])
        }
    if report.failed:
        raise UploadRejected(422, "; ".join(f"{f['file']}: {f['reason']}" for f in report.failed))
    return ProductsResponse(
        added=report.added,
        updated=report.updated,
        unchanged=report.unchanged,
        products=[
            ProductModel(
                image=name,
                caption=caption,
                hash=stored.get(name, {}).get("hash"),
                ingested_at=stored.get(name, {}).get("ingested_at"),
            )
            for name, _, caption in uploads
        ],
    )


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
    return ProductModel(
        image=p.file,
        caption=p.caption,
        hash=p.payload.get("hash"),
        ingested_at=p.payload.get("ingested_at"),
    )


@router.delete(
    "/v1/products/{image:path}",
    response_model=DeletedResponse,
    responses={404: {"model": ErrorModel}},
)
def delete_product(service: ServiceDep, image: str) -> DeletedResponse:
    """Remove a product from the index, and its photo when it was uploaded."""
    name = safe_name(image)
    with service.write_lock:
        p = service.store.get_file(name)
        if p is None:
            raise HTTPException(404, f"{image!r} is not an indexed product")
        service.store.delete([p.id])
        uploaded = service.uploads_dir / name
        if uploaded.is_file():
            uploaded.unlink()
    return DeletedResponse(deleted=name)


@router.get(
    "/v1/manifest",
    response_model=ManifestResponse,
    summary="content hash of every indexed photo",
)
def manifest(service: ServiceDep) -> ManifestResponse:
    """Every indexed photo with its content hash (``tuwen ingest --via`` sends only changes)."""
    return ManifestResponse(files={e.file: e.hash for e in service.store.manifest().values()})
