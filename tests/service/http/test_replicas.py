"""Service replicas sharing one uploads folder: start-up leaves other replicas' uploads in flight."""

from __future__ import annotations

import os
import time

from ingest.models.fingerprint import Fingerprint
from ingest.store import EdgeStore, point_id
from service.http.blobs import UploadFiles, reconcile


def test_start_up_leaves_fresh_unindexed_uploads_to_the_replica_writing_them(tmp_path):
    files = UploadFiles(tmp_path / "uploads")
    pid = point_id("uploads/new.jpg")
    fresh = files.blobs / pid[:2] / pid / ("a" * 64)
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"photo")
    staged = files.staging / "tmp123"
    staged.write_bytes(b"half")
    with EdgeStore(tmp_path / "data") as store:
        store.ensure(Fingerprint("tiny", "r", 4))
        done = reconcile(files, store, grace_s=600)
        assert fresh.exists() and staged.exists() and not done.removed
        old = time.time() - 3600
        for f in (fresh, staged):
            os.utime(f, (old, old))
        done = reconcile(files, store, grace_s=600)
        assert not fresh.exists() and not staged.exists() and done.removed
