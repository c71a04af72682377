"""The HTTP API through the ASGI app, with tiny models and the embedded store."""

from __future__ import annotations

import io
import json
import time

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from ingest.settings import Settings
from service.http.app import create_app
from tests.conftest import make_catalog, photo


def png(color=(200, 30, 30), size=(40, 40), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    photo(color, size=size, seed=2).save(buf, fmt)
    return buf.getvalue()


def test_health_ready_and_metrics(served):
    client, _ = served
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["detail"]["points"] >= 10
    assert ready["detail"]["warmup_ms"] > 0  # one search ran before the server was ready
    client.get("/v1/search", params={"q": "男士衬衫"})
    client.get("/v1/search", params={"q": " 男士衬衫  "})  # the same text: a cache hit
    text = client.get("/metrics").text
    assert "tuwen_requests_total" in text and 'route="/v1/search"' in text
    assert "tuwen_request_seconds_bucket" in text
    gauges = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("tuwen_query_cache")
    )
    assert float(gauges['tuwen_query_cache{what="hits"}']) >= 1
    assert 0 < float(gauges["tuwen_query_cache_hit_rate"]) < 1


def test_ask_json_and_multipart(served):
    client, _ = served
    r = client.post("/v1/ask", json={"question": "图中商品是什么颜色？", "image": "1000.jpg"})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["kind"] == "attribute" and a["attribute"] == "color" and a["citations"]
    assert set(a["timings"]) == {"route", "encode", "search", "prompt", "generate"}
    r = client.post("/v1/ask", json={"question": "请匹配到与 男士紫色正装衬衫 最相关的图片。"})
    assert r.json()["kind"] == "retrieve" and r.json()["answer"].endswith(".jpg")
    r = client.post(
        "/v1/ask",
        data={"question": "请对给定的图片进行描述。"},
        files={"photo": ("x.png", png(), "image/png")},
    )
    assert r.status_code == 200 and r.json()["kind"] == "describe" and r.json()["image"] is None
    assert "tuwen_stage_seconds_bucket" in client.get("/metrics").text


def test_ask_stream_is_server_sent_events_ending_with_the_answer(served):
    client, _ = served
    with client.stream(
        "POST", "/v1/ask?stream=true", json={"question": "这是男款还是女款？", "image": "1001.jpg"}
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    assert (
        events[-1][0] == "answer" and all(e == "token" for e, _ in events[:-1]) and len(events) >= 2
    )
    final = events[-1][1]
    assert final["citations"] and "".join(d["text"] for _, d in events[:-1]).startswith(
        final["answer"][:4]
    )


def test_ask_errors_are_4xx_naming_the_field(served):
    client, _ = served
    r = client.post("/v1/ask", json={"image": "1000.jpg"})
    assert r.status_code == 422 and "question" in json.dumps(r.json())
    assert (
        client.post("/v1/ask", json={"question": "颜色？", "image": "nope.jpg"}).status_code == 404
    )
    r = client.post("/v1/ask", json={"question": "颜色？", "image": "../etc/passwd"})
    assert r.status_code == 422 and "image" in json.dumps(r.json()) and ".." in r.text
    assert (
        client.post(
            "/v1/ask", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert (
        client.post("/v1/ask", content=b"x", headers={"content-type": "text/plain"}).status_code
        == 415
    )
    r = client.post(
        "/v1/ask", data={"question": "颜色？"}, files={"photo": ("x.png", b"garbage", "image/png")}
    )
    assert r.status_code == 415


def test_search_returns_ranked_products(served):
    client, _ = served
    r = client.get("/v1/search", params={"q": "ASICS运动鞋 男士款 白色 运动风格", "k": 3})
    assert r.status_code == 200
    res = r.json()["results"]
    assert len(res) == 3 and res[0]["score"] >= res[-1]["score"]
    assert client.get("/v1/search", params={"q": ""}).status_code == 422
    assert client.get("/v1/search", params={"q": "x", "k": 0}).status_code == 422


def test_upload_is_searchable_at_once_then_deleted(served):
    client, _ = served
    r = client.post(
        "/v1/products",
        files=[("images", ("new/9001.png", png((20, 200, 40)), "image/png"))],
        data={"captions": ["Zara 女士绿色丝绸连衣裙 新品"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 1
    (made,) = r.json()["products"]
    assert made["image"] == "new/9001.png" and len(made["hash"]) == 64 and made["ingested_at"]
    hits = client.get("/v1/search", params={"q": "Zara 女士绿色丝绸连衣裙 新品", "k": 3}).json()[
        "results"
    ]
    assert hits[0]["image"] == "new/9001.png"  # searchable at once; its own title leads
    p = client.get("/v1/products/new/9001.png").json()
    assert p["caption"] == "Zara 女士绿色丝绸连衣裙 新品" and p["hash"] == made["hash"]
    img = client.get("/images/new/9001.png")
    assert img.status_code == 200 and Image.open(io.BytesIO(img.content)).size == (40, 40)
    again = client.post(
        "/v1/products",
        files=[("images", ("new/9001.png", png((20, 200, 40)), "image/png"))],
        data={"captions": ["Zara 女士绿色丝绸连衣裙 新品"]},
    )
    assert again.json()["unchanged"] == 1
    deleted = client.delete("/v1/products/new/9001.png").json()
    assert deleted == {"deleted": "new/9001.png", "origin": "upload"}
    assert client.get("/v1/products/new/9001.png").status_code == 404
    assert client.get("/images/new/9001.png").status_code == 404
    assert client.delete("/v1/products/new/9001.png").status_code == 404


def test_an_uploaded_caption_gets_the_float_document_vector_not_the_int8_query_one(
    served, tiny_encoder
):
    """Captions are stored as ``tuwen ingest`` stores them, whatever runs the queries."""
    from ingest.store import CAPTION

    client, _ = served
    service = client.app.state.service
    assert service.settings.text_int8 and service.retriever.encoder.runtime["text"].endswith("int8")
    caption = "Zara 女士绿色丝绸连衣裙 夏季"
    r = client.post(
        "/v1/products",
        files=[("images", ("roles/9002.png", png((30, 160, 90)), "image/png"))],
        data={"captions": [caption]},
    )
    assert r.status_code == 200, r.text
    stored = np.asarray(service.store.get_file("roles/9002.png", [CAPTION]).vectors[CAPTION])
    document = tiny_encoder.encode_texts([caption])[0]  # the float model, loaded on its own
    query = service.retriever.encoder.encode_texts([caption])[0]
    assert np.allclose(stored, document, atol=1e-6)
    assert not np.allclose(stored, query, atol=1e-4)  # the int8 tower gives another vector
    assert client.delete("/v1/products/roles/9002.png").status_code == 200


def test_products_validation(served):
    client, _ = served
    r = client.post(
        "/v1/products",
        files=[
            ("images", ("a.png", png(), "image/png")),
            ("images", ("b.png", png(), "image/png")),
        ],
        data={"captions": ["只有一个"]},
    )
    assert r.status_code == 422 and "captions" in r.text
    assert client.post("/v1/products", data={"captions": ["x"]}).status_code in (415, 422)
    r = client.post("/v1/products", files=[("images", ("a.txt", b"hello", "text/plain"))])
    assert r.status_code == 415
    r = client.post("/v1/products", files=[("images", ("../a.png", png(), "image/png"))])
    assert r.status_code == 400
    tif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tif, "TIFF")
    assert (
        client.post(
            "/v1/products", files=[("images", ("t.jpg", tif.getvalue(), "image/jpeg"))]
        ).status_code
        == 415
    )


def test_catalog_images_only_and_no_traversal(served):
    client, images = served
    r = client.get("/images/1000.jpg")
    assert r.status_code == 200 and r.content == (images / "1000.jpg").read_bytes()
    assert client.get("/images/sub/1003.jpg").status_code == 200
    for bad in (
        "../train_annotation.csv",
        "..%2Ftrain_annotation.csv",
        "%2E%2E/train_annotation.csv",
        "sub/../../train_annotation.csv",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "1000.jpg%00.png",
        "..%5C..%5Cetc%5Cpasswd",
        "not-indexed.jpg",
    ):
        code = client.get(f"/images/{bad}").status_code
        assert code in (400, 404), (bad, code)


def test_oversized_uploads_are_413_even_when_chunked(served):
    client, _ = served
    big = b"\xff" * 400_000

    def chunks():
        for i in range(0, len(big), 50_000):
            yield big[i : i + 50_000]

    boundary = "X-BOUNDARY"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="images"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        yield from chunks()
        yield tail

    r = client.post(
        "/v1/products",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 413
    r = client.post("/v1/products", files=[("images", ("big.jpg", big, "image/jpeg"))])
    assert r.status_code == 413


def test_decompression_bomb_upload_is_rejected_quickly(served):
    client, _ = served
    buf = io.BytesIO()
    Image.new("1", (5000, 5000)).save(buf, "PNG")  # 25 Mpx in a few KB
    assert len(buf.getvalue()) < 300_000
    t0 = time.perf_counter()
    r = client.post("/v1/products", files=[("images", ("bomb.png", buf.getvalue(), "image/png"))])
    assert r.status_code == 413 and "decompression bomb" in r.text
    assert time.perf_counter() - t0 < 2.0


def test_ingest_against_a_served_data_dir_points_to_via_and_via_sends_only_changes(
    served, tmp_path, capsys
):
    from ingest.catalog import load_catalog as load
    from ingest.remote import push_catalog
    from service.cli import main

    client, images = served
    data_dir = client.app.state.service.settings.data_dir
    assert main(["ingest", str(images), "--data-dir", str(data_dir), "-q"]) == 1
    assert "--via" in capsys.readouterr().err
    extra, captions = make_catalog(tmp_path / "more", n=3, captioned=3, sub=False)
    for f in list(extra.iterdir()):
        f.rename(extra / f"via-{f.name}")
    cat = load(extra, None)
    first = push_catalog(cat, client, progress=False)
    assert (first.added, first.unchanged, first.failed) == (3, 0, [])
    again = push_catalog(cat, client, progress=False)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert client.get("/v1/products/via-1000.jpg").status_code == 200
    (extra / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    partial = push_catalog(load(extra, None), client, progress=False)
    assert [f["file"] for f in partial.failed] == ["broken.jpg"] and partial.unchanged == 3


def test_an_empty_catalog_starts_without_a_warm_up(tmp_path, tiny_clip_dir):
    settings = Settings(data_dir=tmp_path / "data", clip_model=str(tiny_clip_dir), dtype="float32")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["detail"]["points"] == 0
    assert ready["detail"]["warmup_ms"] is None


def test_a_failing_warm_up_does_not_stop_the_server(served, monkeypatch, caplog):
    from service.http.state import Service

    client, _ = served
    service = client.app.state.service

    def broken(*a, **k):
        raise RuntimeError("store unreadable")

    monkeypatch.setattr(service.retriever, "search", broken)
    fresh = Service(
        settings=service.settings,
        store=service.store,
        answerer=service.answerer,
        document_encoder=service.document_encoder,
        uploads_dir=service.uploads_dir,
    )
    fresh.warm_up()
    assert fresh.warmup_ms is None and "warm-up search failed" in caplog.text
