"""Property-based: requests generated from the app's own OpenAPI schema, sent with the API key
(``TUWEN_API_KEY`` set, reads guarded too), never get a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.settings import Settings
from ingest.store import EdgeStore
from service.http.app import create_app
from tests.conftest import make_catalog
from tests.service.http.conftest import AUTH, KEY


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, tiny_clip_dir, tiny_encoder):
    root = tmp_path_factory.mktemp("schema")
    images, captions = make_catalog(root / "cat", n=6, captioned=5)
    with EdgeStore(root / "data") as store:
        run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
    app = create_app(
        Settings(
            data_dir=root / "data",
            clip_model=str(tiny_clip_dir),
            dtype="float32",
            images_dir=images,
            max_upload_bytes=200_000,
            max_upload_pixels=1_000_000,
            api_key=KEY,
            auth_reads=True,
        )
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_server_errors(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/ask",
        "GET /v1/search",
        "POST /v1/products",
        "GET /v1/products/{image}",
        "DELETE /v1/products/{image}",
        "GET /images/{name}",
        "GET /readyz",
        "GET /metrics",
        "GET /v1/manifest",
    }
    statuses: list[int] = []
    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def no_5xx(case):
            response = case.call(headers=AUTH)
            statuses.append(response.status_code)
            assert response.status_code < 500, (
                case.method,
                case.path,
                response.status_code,
                response.text[:300],
            )
            # without the key, a guarded operation is refused before it does anything
            if case.operation.definition.raw.get("security"):
                assert case.call().status_code == 401, (case.method, case.path)

        no_5xx()
    assert sum(200 <= s < 300 for s in statuses) >= 20, statuses
