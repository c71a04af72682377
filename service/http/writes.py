"""Changing the catalog over HTTP: adding, replacing and deleting products.

Uploads have their own namespace: an uploaded photo is kept in the uploads folder
(:mod:`service.http.blobs`), never over a catalog file, and a name that is already a product
(from the catalog or an earlier upload) with other content is refused with 409 unless the
request says ``replace=true``; the response then lists what was replaced. Names are checked
against the products' folders too: ``a.jpg`` cannot be added next to ``a.jpg/b.jpg``.

Everything here runs under the service's write lock, in a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from ingest.catalog import CatalogItem
from ingest.job import index_items
from ingest.plan import content_hashes
from ingest.store import StoredPoint, point_id
from service.http.schemas import (
    DeletedResponse,
    FailedModel,
    ProductModel,
    ProductsResponse,
    ReplacedModel,
)
from service.http.state import Service
from service.http.uploads import UploadRejected


@dataclass(frozen=True)
class Upload:
    """One checked photo of a request: its name, bytes and caption."""

    name: str
    data: bytes
    caption: str | None


def origin(service: Service, p: StoredPoint) -> str:
    """``"upload"`` when the product's photo is kept in the uploads folder, else ``"catalog"``."""
    return "upload" if service.files.has(p.id, p.payload.get("image_hash")) else "catalog"


def product_model(service: Service, p: StoredPoint, status: str | None = None) -> ProductModel:
    """A stored product as the API shows it."""
    return ProductModel(
        image=p.file,
        caption=p.caption,
        hash=p.payload.get("hash"),
        ingested_at=p.payload.get("ingested_at"),
        origin=origin(service, p),
        status=status,
    )


def add_products(service: Service, uploads: Sequence[Upload], replace: bool) -> ProductsResponse:
    """Store checked photos and index them; see the module docstring for the rules.

    Args:
        service: The running service.
        uploads: The request's photos, names unique and checked, pixels checked.
        replace: Replace products whose name is taken by other content.

    Returns:
        What was stored, read back from the store.

    Raises:
        UploadRejected: 422 for a file/folder clash, 409 for a taken name without
            ``replace``, 422 when no photo could be indexed.
    """
    files, store = service.files, service.store
    with service.write_lock:
        why = service.folders.clash(store, [u.name for u in uploads])
        if why is not None:
            raise UploadRejected(422, f"images: {why} (rule: a name is a file or a folder)")
        before = {p.id: p for p in store.get([point_id(u.name) for u in uploads])}
        hashes = {u.name: content_hashes(u.data, u.caption) for u in uploads}
        changed = [before.get(point_id(u.name)) for u in uploads]
        replaced = [
            p
            for u, p in zip(uploads, changed, strict=True)
            if p is not None and p.payload.get("hash") != hashes[u.name][0]
        ]
        if replaced and not replace:
            taken = ", ".join(f"{p.file!r} ({origin(service, p)})" for p in replaced)
            raise UploadRejected(
                409,
                f"images: already products with other content: {taken}; send replace=true "
                "to replace them",
            )
        replaced_models = [
            ReplacedModel(
                image=p.file,
                origin=origin(service, p),
                caption=p.caption,
                hash=p.payload.get("hash"),
            )
            for p in replaced
        ]
        new_blobs: list[tuple[str, str]] = []
        pids = [point_id(u.name) for u in uploads]
        try:
            with ExitStack() as temporary:
                items = []
                for u in uploads:
                    pid, image_hash = point_id(u.name), hashes[u.name][1]
                    old = before.get(pid)
                    if old is None or old.payload.get("image_hash") != image_hash:
                        if files.put(pid, image_hash, u.data):
                            new_blobs.append((pid, image_hash))
                        path = files.path(pid, image_hash)
                    else:  # the same photo stays where it is; the planner reads a temp copy
                        path = temporary.enter_context(files.staged(u.data))
                    items.append(CatalogItem(u.name, path, u.caption))
                report = index_items(
                    items,
                    store,
                    service.document_encoder,
                    max_pixels=service.settings.max_upload_pixels,
                )
        except BaseException:
            try:
                _forget(service, new_blobs, {p.id: p for p in store.get(pids)})
            except Exception:  # noqa: BLE001 - the store failed: start-up reconciliation cleans
                pass
            raise
        after = {p.id: p for p in store.get([point_id(u.name) for u in uploads])}
        _forget(service, new_blobs, after)
        for u in uploads:
            p = after.get(point_id(u.name))
            if p is not None:
                files.remove(p.id, keep=p.payload.get("image_hash"))
                if point_id(u.name) not in before:
                    service.folders.added(u.name)
    failed = [FailedModel(image=f["file"], reason=f["reason"]) for f in report.failed]
    if failed and len(failed) == len(uploads):
        raise UploadRejected(422, "; ".join(f"{f.image}: {f.reason}" for f in failed))
    status = _statuses(uploads, before, after, hashes, {f.image for f in failed})
    return ProductsResponse(
        added=sum(s == "added" for s in status.values()),
        updated=sum(s == "updated" for s in status.values()),
        unchanged=sum(s == "unchanged" for s in status.values()),
        products=[
            product_model(service, after[point_id(u.name)], status[u.name])
            for u in uploads
            if u.name in status
        ],
        replaced=[r for r in replaced_models if r.image in status],
        failed=failed,
    )


def _statuses(
    uploads: Sequence[Upload],
    before: dict[str, StoredPoint],
    after: dict[str, StoredPoint],
    hashes: dict[str, tuple[str, str]],
    failed: set[str],
) -> dict[str, str]:
    """Name → ``added``/``updated``/``unchanged`` for every photo whose point now holds it."""
    out = {}
    for u in uploads:
        p = after.get(point_id(u.name))
        if u.name in failed or p is None or p.payload.get("hash") != hashes[u.name][0]:
            continue
        old = before.get(p.id)
        if old is None:
            out[u.name] = "added"
        else:
            out[u.name] = "unchanged" if old.payload.get("hash") == hashes[u.name][0] else "updated"
    return out


def _forget(service: Service, blobs: list[tuple[str, str]], after: dict[str, StoredPoint]) -> None:
    """Remove photos written for this request that no stored point names."""
    for pid, image_hash in blobs:
        p = after.get(pid)
        if p is None or p.payload.get("image_hash") != image_hash:
            service.files.path(pid, image_hash).unlink(missing_ok=True)
            service.files.remove(pid, keep=p.payload.get("image_hash") if p else None)


def delete_product(service: Service, name: str) -> DeletedResponse:
    """Remove a product from the index, and its photo when it was uploaded.

    Raises:
        UploadRejected: 404 when ``name`` is not a product.
    """
    with service.write_lock:
        p = service.store.get_file(name)
        if p is None:
            raise UploadRejected(404, f"{name!r} is not an indexed product")
        kind = origin(service, p)
        service.store.delete([p.id])
        service.files.remove(p.id)
        service.folders.removed(name)
    return DeletedResponse(deleted=name, origin=kind)
