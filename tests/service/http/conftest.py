"""The served app: a small catalog ingested with the tiny CLIP, behind the real ASGI app."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.settings import Settings
from ingest.store import EdgeStore
from service.http.app import create_app
from tests.conftest import make_catalog


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_clip_dir, tiny_encoder):
    """``(client, images folder)``: the app over 10 ingested photos, 8 of them captioned."""
    root = tmp_path_factory.mktemp("api")
    images, captions = make_catalog(root / "cat", n=10, captioned=8)
    with EdgeStore(root / "data") as store:
        run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
    settings = Settings(
        data_dir=root / "data",
        clip_model=str(tiny_clip_dir),
        dtype="float32",
        images_dir=images,
        max_upload_bytes=300_000,
        max_upload_pixels=2_000_000,
    )
    with TestClient(create_app(settings)) as client:
        yield client, images


#: The API key of the :func:`keyed` app.
KEY = "test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


def keyed_app(root, tiny_encoder, tiny_clip_dir, **overrides):
    """``(app, images folder, data dir)``: 10 ingested photos, ``TUWEN_API_KEY`` set."""
    images, captions = make_catalog(root / "cat", n=10, captioned=8)
    with EdgeStore(root / "data") as store:
        run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
    settings = Settings(
        data_dir=root / "data",
        clip_model=str(tiny_clip_dir),
        dtype="float32",
        images_dir=images,
        max_upload_bytes=300_000,
        max_upload_pixels=2_000_000,
        api_key=KEY,
        **overrides,
    )
    return create_app(settings), images, root / "data"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, tiny_clip_dir, tiny_encoder):
    """``(client, images folder, data dir)``: the app with ``TUWEN_API_KEY`` set."""
    app, images, data = keyed_app(tmp_path_factory.mktemp("keyed"), tiny_encoder, tiny_clip_dir)
    with TestClient(app) as client:
        yield client, images, data
