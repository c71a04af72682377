"""``tuwen ingest --via URL``: send new or changed products to a running ``tuwen serve``.

The same planning as a local run (:func:`ingest.plan.plan`), against the server's manifest of
content hashes (``GET /v1/manifest``): only new or changed photos travel
(``POST /v1/products?replace=true``: the catalog is the truth for its names), and the server
embeds and writes them. A server with ``TUWEN_API_KEY`` needs the client to send that key (the
``tuwen ingest`` command does, from the same setting).
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Iterator

import httpx

from ingest.catalog import Catalog, CatalogItem
from ingest.job import IngestReport
from ingest.plan import entries_from_hashes, plan
from ingest.stages import batches


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

    Returns:
        What the server did, with the photos it refused (or that could not be read) as failed.

    Raises:
        RemoteError: The server cannot be reached or answers an error for a whole batch.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    try:
        served = _check(client.get("/v1/manifest"), "manifest").json()["files"]
    except httpx.HTTPError as e:
        raise RemoteError(f"cannot reach {client.base_url}: {e}") from e
    stored = entries_from_hashes(served)
    p = plan(catalog.items, stored)
    report = IngestReport(unchanged=p.unchanged, failed=list(p.unreadable))
    bar = tqdm(total=len(p.work), unit="img", desc="sending", disable=not progress or not p.work)
    try:
        for batch in batches(p.work, batch_size):
            loaded = _read([w.item for w in batch], report)
            bar.update(len(batch) - len(loaded))
            if loaded:
                for part in _send(client, loaded, report):
                    bar.update(part)
    finally:
        bar.close()
    if prune:
        for name in sorted(stored[pid].file for pid in p.stale):
            _check(client.delete(f"/v1/products/{name}"), f"delete {name}")
            report.removed += 1
    report.embedded = report.added + report.updated
    report.failed.sort(key=lambda f: f["file"])
    report.seconds = time.perf_counter() - t0
    return report


def _read(items: list[CatalogItem], report: IngestReport) -> list[tuple[CatalogItem, bytes]]:
    """The photos' bytes; a file that cannot be read any more is reported as failed."""
    out = []
    for item in items:
        try:
            out.append((item, item.path.read_bytes()))
        except OSError as e:
            report.failed.append(
                {"file": item.rel, "reason": f"cannot read file: {e.strerror or e}"}
            )
    return out


def _send(
    client: httpx.Client, batch: list[tuple[CatalogItem, bytes]], report: IngestReport
) -> Iterator[int]:
    """POST one batch; yields how many photos were settled, one batch or one photo at a time.

    A batch the server rejects (4xx) is sent again one photo at a time to find the bad ones.
    """
    files = [
        ("images", (it.rel, data, mimetypes.guess_type(it.rel)[0] or "application/octet-stream"))
        for it, data in batch
    ]
    r = client.post(
        "/v1/products",
        params={"replace": "true"},
        files=files,
        data={"captions": [it.caption or "" for it, _ in batch]},
    )
    if r.status_code < 400:
        body = r.json()
        report.added += body["added"]
        report.updated += body["updated"]
        report.unchanged += body["unchanged"]
        report.failed += [
            {"file": f["image"], "reason": f["reason"]} for f in body.get("failed", [])
        ]
        yield len(batch)
        return
    if r.status_code == 401:
        _check(r, "upload (set TUWEN_API_KEY to the server's key)")
    if r.status_code >= 500 or len(batch) == 1:
        if len(batch) == 1 and r.status_code < 500:
            report.failed.append({"file": batch[0][0].rel, "reason": _detail(r)})
            yield 1
            return
        _check(r, "upload")
    for one in batch:
        yield from _send(client, [one], report)


def _detail(r: httpx.Response) -> str:
    try:
        return f"{r.status_code}: {r.json().get('detail')}"
    except ValueError:
        return f"{r.status_code}: {r.text[:200]}"
