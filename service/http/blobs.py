"""The uploads folder: uploaded photos stored by point id and content hash, crash-safe.

Layout under ``TUWEN_DATA_DIR/uploads``:

- ``.blobs/<id[:2]>/<id>/<image_hash>``: a product's photo, where ``id`` is its point id and
  ``image_hash`` the sha256 of the bytes. A product's names never touch the disk, so any
  valid name fits, and the folder cannot clash with a file.
- ``.staging/``: files being written (a short random name, then renamed into place).

A photo is in place (written, flushed, renamed) before the point that names its hash is
written, and a replaced photo is removed only after the point moved on. So a crash at any
moment leaves every stored point with its photo, plus at most some files no point names;
:func:`reconcile` removes those at start-up, and moves photos of the earlier layout (the
product name as the path) into this one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.store import point_id

if TYPE_CHECKING:
    from ingest.store import Store

log = logging.getLogger(__name__)

BLOBS, STAGING = ".blobs", ".staging"
_CHUNK = 512


class UploadFiles:
    """The photos of uploaded products.

    Args:
        root: The uploads folder (created when missing).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / BLOBS
        self.staging = root / STAGING
        for d in (self.blobs, self.staging):
            d.mkdir(parents=True, exist_ok=True)

    def path(self, pid: str, image_hash: str) -> Path:
        """Where the photo with ``image_hash`` of point ``pid`` is kept."""
        return self.blobs / pid[:2] / pid / image_hash

    def has(self, pid: str, image_hash: str | None) -> bool:
        """Whether that photo is kept here (an uploaded product, not a catalog one)."""
        return bool(image_hash) and self.path(pid, image_hash).is_file()

    def put(self, pid: str, image_hash: str, data: bytes) -> bool:
        """Keep ``data`` as point ``pid``'s photo: written whole or not at all.

        Returns:
            Whether the file is new (``False`` when that photo was already kept).
        """
        target = self.path(pid, image_hash)
        if target.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.staged(data) as tmp:
            os.replace(tmp, target)
        _fsync_dir(target.parent)
        return True

    @contextmanager
    def staged(self, data: bytes) -> Iterator[Path]:
        """A flushed temporary file holding ``data``, removed on leaving unless moved away."""
        tmp = self.staging / f"{uuid.uuid4().hex}.tmp"
        try:
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            yield tmp
        finally:
            tmp.unlink(missing_ok=True)

    def remove(self, pid: str, keep: str | None = None) -> None:
        """Remove point ``pid``'s photos, except the one with hash ``keep``."""
        folder = self.blobs / pid[:2] / pid
        if not folder.is_dir():
            return
        for f in folder.iterdir():
            if f.name != keep:
                _remove(f)
        _prune_empty(folder, self.blobs)


@dataclass
class Reconciled:
    """What :func:`reconcile` did, file by file."""

    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    temporary: int = 0

    def summary(self) -> str:
        """One line for the log."""
        return (
            f"uploads: {len(self.kept)} earlier-layout photos indexed and kept, "
            f"{len(self.removed)} photos not indexed removed, {self.temporary} temporary files "
            "removed"
        )


def reconcile(files: UploadFiles, store: Store, grace_s: float = 0.0) -> Reconciled:
    """Bring the uploads folder in line with the index; called once at start-up.

    Unfinished temporary files are removed; a kept photo that no point names (its upload was
    interrupted, or it was replaced or deleted and the server stopped before removing it) is
    removed; a photo of the earlier layout (``uploads/<name>``) is moved into the new layout
    when its point is indexed with these bytes, and removed when not. Each file is logged.

    Args:
        files: The uploads folder.
        store: The open store.
        grace_s: Leave files younger than this: on a folder shared by service replicas they
            may be another replica's upload in flight (its point not written yet).

    Returns:
        What was kept and removed.
    """
    done = Reconciled()
    cutoff = time.time() - grace_s

    def settled(f: Path) -> bool:
        return grace_s <= 0 or f.stat().st_mtime < cutoff

    for tmp in [t for t in files.staging.iterdir() if settled(t)]:
        _remove(tmp)
        done.temporary += 1
    _adopt_earlier_layout(files, store, done)
    blobs = [
        (f.parent.name, f)
        for shard in files.blobs.iterdir()
        if shard.is_dir()
        for folder in shard.iterdir()
        if folder.is_dir()
        for f in folder.iterdir()
        if settled(f)
    ]
    for _, f in [b for b in blobs if not _is_uuid(b[0])]:
        log.warning("uploads: removed %s: not a point id", f.relative_to(files.root))
        done.removed.append(str(f.relative_to(files.root)))
        _remove(f)
        _prune_empty(f.parent, files.blobs)
    blobs = [b for b in blobs if _is_uuid(b[0])]
    for i in range(0, len(blobs), _CHUNK):
        chunk = blobs[i : i + _CHUNK]
        entries = store.entries(sorted({pid for pid, _ in chunk}))
        for pid, f in chunk:
            entry = entries.get(pid)
            if entry is None or entry.image_hash != f.name:
                why = "no product" if entry is None else f"{entry.file!r} now has other bytes"
                log.warning("uploads: removed %s: not indexed (%s)", f.relative_to(files.root), why)
                done.removed.append(str(f.relative_to(files.root)))
                _remove(f)
                _prune_empty(f.parent, files.blobs)
    (log.warning if done.removed or done.temporary else log.info)("%s", done.summary())
    return done


def _adopt_earlier_layout(files: UploadFiles, store: Store, done: Reconciled) -> None:
    """Photos saved as ``uploads/<name>`` (before the blob layout): index check, move or remove."""
    earlier = [
        p
        for p in files.root.rglob("*")
        if p.is_file() and p.relative_to(files.root).parts[0] not in (BLOBS, STAGING)
    ]
    for i in range(0, len(earlier), _CHUNK):
        chunk = earlier[i : i + _CHUNK]
        rels = [p.relative_to(files.root).as_posix() for p in chunk]
        entries = store.entries([point_id(r) for r in rels])
        for path, rel in zip(chunk, rels, strict=True):
            if any(part.startswith(".") for part in rel.split("/")):
                _remove(path)  # an unfinished temporary file of the earlier layout
                done.temporary += 1
                continue
            pid = point_id(rel)
            entry = entries.get(pid)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if entry is not None and entry.image_hash == digest:
                target = files.path(pid, digest)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                log.info(
                    "uploads: %s is indexed: kept, moved to %s", rel, target.relative_to(files.root)
                )
                done.kept.append(rel)
            else:
                log.warning("uploads: removed %s: not indexed with these bytes", rel)
                _remove(path)
                done.removed.append(rel)
    for d in sorted((p for p in files.root.rglob("*") if p.is_dir()), reverse=True):
        if d.relative_to(files.root).parts[0] not in (BLOBS, STAGING):
            _prune_empty(d, files.root)


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _prune_empty(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``stop`` while they are empty."""
    while folder != stop and folder.is_relative_to(stop):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
