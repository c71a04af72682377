"""Who may use the API: the bearer key for writes, for reads by setting, and the start-up
refusal to serve a non-loopback address without a key."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.http import auth
from service.http.auth import access, is_loopback
from tests.service.http.conftest import AUTH, KEY, keyed_app


def png(color=(10, 200, 90)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), color).save(buf, "PNG")
    return buf.getvalue()


def upload(client, name: str, headers: dict | None = None):
    return client.post(
        "/v1/products",
        files=[("images", (name, png(), "image/png"))],
        data={"captions": ["绿色 新品"]},
        headers=headers or {},
    )


def test_writes_need_the_key_reads_do_not(keyed):
    client, _, _ = keyed
    r = upload(client, "auth/a.png")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert "TUWEN_API_KEY" in r.json()["detail"]
    assert (
        upload(client, "auth/a.png", {"Authorization": "Bearer " + KEY[:-1] + "x"}).status_code
        == 401
    )
    assert upload(client, "auth/a.png", {"Authorization": KEY}).status_code == 401  # no scheme
    assert upload(client, "auth/a.png", AUTH).status_code == 200
    assert client.delete("/v1/products/auth/a.png").status_code == 401
    assert client.get("/v1/products/auth/a.png").status_code == 200  # still there
    # any method that is not a read is a write, even on a path with no such route
    assert client.put("/v1/products/auth/a.png", content=b"x").status_code == 401
    assert client.patch("/v1/anything").status_code == 401
    for path in ("/v1/search?q=新品", "/v1/products/1000.jpg", "/images/1000.jpg", "/v1/manifest"):
        assert client.get(path).status_code == 200, path
    assert (
        client.post("/v1/ask", json={"question": "颜色？", "image": "1000.jpg"}).status_code == 200
    )
    assert client.delete("/v1/products/auth/a.png", headers=AUTH).status_code == 200


def test_the_key_is_compared_in_constant_time(keyed, monkeypatch):
    client, _, _ = keyed
    calls = []
    real = auth.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert (
        client.delete(
            "/v1/products/nope.jpg", headers={"Authorization": "Bearer guess"}
        ).status_code
        == 401
    )
    assert calls == [(b"guess", KEY.encode())]


def test_reads_need_the_key_with_auth_reads(tmp_path, tiny_encoder, tiny_clip_dir):
    app, _, _ = keyed_app(tmp_path, tiny_encoder, tiny_clip_dir, auth_reads=True)
    with TestClient(app) as client:
        for path in (
            "/v1/search?q=新品",
            "/v1/products/1000.jpg",
            "/images/1000.jpg",
            "/v1/manifest",
            "/metrics",
        ):
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers=AUTH).status_code == 200, path
        ask = {"question": "颜色？", "image": "1000.jpg"}
        assert client.post("/v1/ask", json=ask).status_code == 401
        assert client.post("/v1/ask", json=ask, headers=AUTH).status_code == 200
        for path in ("/healthz", "/readyz", "/", "/openapi.json", "/static/app.js"):
            assert client.get(path).status_code == 200, path
        # <img> cannot send a header: the web page's cookie works for photos, and only for them
        client.cookies.set("tuwen_key", KEY)
        assert client.get("/images/1000.jpg").status_code == 200
        assert client.get("/v1/products/1000.jpg").status_code == 401
        assert upload(client, "cookie.png").status_code == 401
        client.cookies.clear()


def test_the_schema_marks_what_needs_the_key(keyed):
    client, _, _ = keyed
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    paths = schema["paths"]
    assert paths["/v1/products"]["post"]["security"] == [{"apiKey": []}]
    assert paths["/v1/products/{image}"]["delete"]["security"] == [{"apiKey": []}]
    assert "security" not in paths["/v1/search"]["get"]
    assert "security" not in paths["/v1/ask"]["post"]


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", "/v1/products", "write"),
        ("DELETE", "/v1/products/a.jpg", "write"),
        ("PUT", "/v1/reindex", "write"),
        ("POST", "/v1/ask", "read"),
        ("GET", "/v1/search", "read"),
        ("GET", "/images/a.jpg", "read"),
        ("GET", "/metrics", "read"),
        ("GET", "/healthz", "open"),
        ("GET", "/static/app.js", "open"),
    ],
)
def test_access_by_method_and_path(method, path, kind):
    assert access(method, path) == kind


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_serve_refuses_a_public_address_without_a_key(monkeypatch, capsys, tmp_path):
    import uvicorn

    from service.cli import main

    runs = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: runs.append(kw))
    monkeypatch.delenv("TUWEN_API_KEY", raising=False)
    base = ["serve", "--data-dir", str(tmp_path / "data")]
    assert main([*base, "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err
    assert "TUWEN_API_KEY" in err and "--allow-unauthenticated" in err and not runs
    assert main([*base, "--host", "0.0.0.0", "--allow-unauthenticated"]) == 0
    assert "writes are open" in capsys.readouterr().err
    assert main([*base, "--host", "127.0.0.1"]) == 0
    monkeypatch.setenv("TUWEN_API_KEY", KEY)
    assert main([*base, "--host", "0.0.0.0"]) == 0
    assert [r["host"] for r in runs] == ["0.0.0.0", "127.0.0.1", "0.0.0.0"]
    monkeypatch.setenv("TUWEN_API_KEY", "short")
    assert main([*base, "--host", "127.0.0.1"]) == 1
    assert "TUWEN_API_KEY must be at least 16" in capsys.readouterr().err


def test_ingest_via_sends_the_key(keyed, tmp_path):
    from ingest.catalog import load_catalog
    from ingest.remote import RemoteError, push_catalog
    from tests.conftest import make_catalog

    client, _, _ = keyed
    extra, _ = make_catalog(tmp_path / "more", n=2, captioned=0, sub=False)
    for f in list(extra.iterdir()):
        f.rename(extra / f"via-key-{f.name}")
    cat = load_catalog(extra, None)
    with pytest.raises(RemoteError, match="TUWEN_API_KEY"):
        push_catalog(cat, client, progress=False)
    client.headers.update(AUTH)
    try:
        report = push_catalog(cat, client, progress=False)
    finally:
        del client.headers["Authorization"]
    assert (report.added, report.failed) == (2, [])
