"""``tuwen ingest --via URL``: send new or changed products to a running ``tuwen serve``.

The same planning as a local run: the server's manifest of content hashes is compared with the
catalog's, and only new or changed photos travel (``POST /v1/products``).
"""

from __future__ import annotations

import mimetypes
import time

import httpx

from ingest.catalog import Catalog, CatalogItem
from ingest.job import IngestReport, content_hashes


class RemoteError(RuntimeError):
    """The server could not be used; the message names the URL and what it said."""


def _check(r: httpx.Response, what: str) -> httpx.Response:
    if r.status_code >= 400:
        try:
            detail = r.json().get("detail")
        except ValueError:
            detail = r.text[:300]
        raise RemoteError(f"{what}: {r.request.url} answered {r.status_code}: {detail}")
    return r


def push_catalog(
    catalog: Catalog,
    client: httpx.Client,
    *,
    prune: bool = False,
    batch_size: int = 16,
    progress: bool = True,
) -> IngestReport:
    """Bring a served collection in line with ``catalog`` through the HTTP API.

    Args:
        catalog: The local photos and captions.
        client: An ``httpx.Client`` whose ``base_url`` is the server.
        prune: Delete served products whose photo is not in the catalog.
        batch_size: Photos per request.
        progress: Show a progress bar.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    try:
        served = _check(client.get("/v1/manifest"), "manifest").json()["files"]
    except httpx.HTTPError as e:
        raise RemoteError(f"cannot reach {client.base_url}: {e}") from e
    report = IngestReport()
    todo: list[tuple[CatalogItem, bytes]] = []
    for item in catalog.items:
        try:
            data = item.path.read_bytes()
        except OSError as e:
            report.failed.append(
                {"file": item.rel, "reason": f"cannot read file: {e.strerror or e}"}
            )
            continue
        h, _ = content_hashes(data, item.caption)
        if served.get(item.rel) == h:
            report.unchanged += 1
        else:
            todo.append((item, data))
    bar = tqdm(total=len(todo), unit="img", desc="sending", disable=not progress or not todo)
    for i in range(0, len(todo), batch_size):
        batch = todo[i : i + batch_size]
        for part in _send(client, batch, report):
            bar.update(part)
    bar.close()
    if prune:
        present = {it.rel for it in catalog.items}
        for name in sorted(set(served) - present):
            _check(client.delete(f"/v1/products/{name}"), f"delete {name}")
            report.removed += 1
    report.embedded = report.added + report.updated
    report.failed.sort(key=lambda f: f["file"])
    report.seconds = time.perf_counter() - t0
    return report


def _send(client: httpx.Client, batch: list[tuple[CatalogItem, bytes]], report: IngestReport):
    files = [
        ("images", (it.rel, data, mimetypes.guess_type(it.rel)[0] or "application/octet-stream"))
        for it, data in batch
    ]
    r = client.post(
        "/v1/products", files=files, data={"captions": [it.caption or "" for it, _ in batch]}
    )
    if r.status_code < 400:
        body = r.json()
        report.added += body["added"]
        report.updated += body["updated"]
        report.unchanged += body["unchanged"]
        yield len(batch)
        return
    if r.status_code >= 500 or len(batch) == 1:
        if len(batch) == 1 and r.status_code < 500:
            report.failed.append({"file": batch[0][0].rel, "reason": _detail(r)})
            yield 1
            return
        _check(r, "upload")
    for one in batch:  # a rejected batch: find the bad photo(s) one by one
        yield from _send(client, [one], report)


def _detail(r: httpx.Response) -> str:
    try:
        return f"{r.status_code}: {r.json().get('detail')}"
    except ValueError:
        return f"{r.status_code}: {r.text[:200]}"
