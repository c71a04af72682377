"""The upload namespace, ``replace=true``, responses that say exactly what was stored, files
that never outlive a failure, and the start-up reconciliation of the uploads folder."""

from __future__ import annotations

import hashlib
import io
import logging

from fastapi.testclient import TestClient
from PIL import Image

from ingest.store import point_id
from service.http import writes
from tests.service.http.conftest import AUTH, keyed_app


def png(color, size=(20, 20)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def post(client, photos, captions=None, replace=False):
    return client.post(
        "/v1/products",
        params={"replace": "true"} if replace else {},
        files=[("images", (name, data, "image/png")) for name, data in photos],
        data={"captions": captions} if captions is not None else {},
        headers=AUTH,
    )


def uploads(data_dir) -> set[str]:
    root = data_dir / "uploads"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_replacing_a_catalog_photo_is_explicit_and_reported(keyed):
    client, images, data = keyed
    before = client.get("/v1/products/1001.jpg").json()
    assert before["origin"] == "catalog"
    new = png((250, 0, 0))
    r = post(client, [("1001.jpg", new)], ["红色 替换品"])
    assert r.status_code == 409 and "1001.jpg" in r.text and "catalog" in r.text
    assert client.get("/v1/products/1001.jpg").json() == before
    r = post(client, [("1001.jpg", new)], ["红色 替换品"], replace=True)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["replaced"] == [
        {
            "image": "1001.jpg",
            "origin": "catalog",
            "caption": before["caption"],
            "hash": before["hash"],
        }
    ]
    (p,) = body["products"]
    assert (p["status"], p["origin"], p["caption"]) == ("updated", "upload", "红色 替换品")
    assert client.get("/images/1001.jpg").content == new
    assert (images / "1001.jpg").read_bytes() != new  # the catalog file itself is untouched
    gone = client.delete("/v1/products/1001.jpg", headers=AUTH).json()
    assert gone == {"deleted": "1001.jpg", "origin": "upload"}
    assert (images / "1001.jpg").is_file() and not uploads(data) - {".keep"}


def test_a_caption_change_of_a_catalog_product_keeps_its_photo(keyed):
    client, images, _ = keyed
    data = (images / "1002.jpg").read_bytes()
    r = client.post(
        "/v1/products",
        params={"replace": "true"},
        files=[("images", ("1002.jpg", data, "image/jpeg"))],
        data={"captions": ["新的说明 蓝色"]},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    (p,) = r.json()["products"]
    assert (p["status"], p["origin"], p["caption"]) == ("updated", "catalog", "新的说明 蓝色")
    assert r.json()["replaced"][0]["origin"] == "catalog"


def test_uploads_replace_uploads_only_when_asked_and_leave_one_file(keyed):
    client, _, data = keyed
    assert post(client, [("ns/a.png", png((1, 2, 3)))], ["第一版"]).status_code == 200
    again = post(client, [("ns/a.png", png((1, 2, 3)))], ["第一版"])
    assert again.json()["unchanged"] == 1 and again.json()["replaced"] == []
    assert post(client, [("ns/a.png", png((9, 9, 9)))], ["第二版"]).status_code == 409
    r = post(client, [("ns/a.png", png((9, 9, 9)))], ["第二版"], replace=True)
    assert r.json()["replaced"][0]["origin"] == "upload" and r.json()["updated"] == 1
    pid = point_id("ns/a.png")
    kept = [f for f in uploads(data) if pid in f]
    digest = hashlib.sha256(png((9, 9, 9))).hexdigest()
    assert kept == [f".blobs/{pid[:2]}/{pid}/{digest}"]
    assert client.delete("/v1/products/ns/a.png", headers=AUTH).status_code == 200
    assert not [f for f in uploads(data) if pid in f]


def test_a_multi_photo_response_lists_exactly_what_was_stored(keyed):
    client, _, _ = keyed
    assert post(client, [("m/keep.png", png((5, 5, 5)))], ["不变"]).status_code == 200
    assert post(client, [("m/old.png", png((6, 6, 6)))], ["旧的"]).status_code == 200
    r = post(
        client,
        [
            ("m/keep.png", png((5, 5, 5))),
            ("m/old.png", png((6, 6, 6))),
            ("m/new.png", png((7, 7, 7))),
        ],
        ["不变", "  改了  ", "新的"],
        replace=True,
    )
    body = r.json()
    assert (body["added"], body["updated"], body["unchanged"]) == (1, 1, 1)
    got = {p["image"]: (p["status"], p["caption"]) for p in body["products"]}
    assert got == {
        "m/keep.png": ("unchanged", "不变"),
        "m/old.png": ("updated", "改了"),  # as stored: whitespace stripped
        "m/new.png": ("added", "新的"),
    }
    for p in body["products"]:
        assert client.get(f"/v1/products/{p['image']}").json()["hash"] == p["hash"]


def test_a_photo_that_fails_to_index_is_reported_and_leaves_no_file(keyed, monkeypatch):
    client, _, data = keyed
    real = writes.index_items

    def lose_one(items, *a, **k):
        report = real([i for i in items if i.rel != "f/bad.png"], *a, **k)
        report.failed.append({"file": "f/bad.png", "reason": "could not be embedded"})
        return report

    monkeypatch.setattr(writes, "index_items", lose_one)
    files = uploads(data)
    r = post(client, [("f/good.png", png((1, 1, 1))), ("f/bad.png", png((2, 2, 2)))], ["好", "坏"])
    body = r.json()
    assert [p["image"] for p in body["products"]] == ["f/good.png"] and body["added"] == 1
    assert body["failed"] == [{"image": "f/bad.png", "reason": "could not be embedded"}]
    assert client.get("/v1/products/f/bad.png").status_code == 404
    assert len(uploads(data) - files) == 1  # the good photo's file only


def test_no_file_survives_a_failing_write(keyed, monkeypatch, caplog):
    client, _, data = keyed
    service = client.app.state.service
    points, files = service.store.count(), uploads(data)

    def broken(*a, **k):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(writes, "index_items", broken)
    with caplog.at_level(logging.ERROR, logger="service.http.limits"):
        r = post(client, [("x/one.png", png((3, 3, 3))), ("x/two.png", png((4, 4, 4)))])
    assert r.status_code == 500 and r.headers["connection"] == "close"
    assert "the store went away" not in r.text  # logged, not shown
    assert "the store went away" in caplog.text
    assert uploads(data) == files and service.store.count() == points


def test_start_up_reconciles_the_uploads_folder(tmp_path, tiny_encoder, tiny_clip_dir, caplog):
    from service.http.app import create_app

    app, _, data = keyed_app(tmp_path, tiny_encoder, tiny_clip_dir)
    with TestClient(app) as client:
        settings = client.app.state.service.settings
        assert post(client, [("old/kept.png", png((8, 8, 8)))], ["旧布局"]).status_code == 200
        assert post(client, [("gone.png", png((9, 9, 9)))]).status_code == 200
        assert client.delete("/v1/products/gone.png", headers=AUTH).status_code == 200
    root = data / "uploads"
    # the earlier layout: the photo under its own name; and what a crash leaves behind
    (blob,) = [p for p in root.rglob("*") if p.is_file() and point_id("old/kept.png") in str(p)]
    (root / "old").mkdir()
    blob.rename(root / "old" / "kept.png")
    (root / "orphan.png").write_bytes(png((1, 1, 1)))
    (root / ".orphan.png.0f0f.tmp").write_bytes(b"half")
    (root / ".staging" / "123.tmp").write_bytes(b"half")
    for pid in (point_id("never-stored.png"), "ab-not-a-point-id"):
        stray = root / ".blobs" / pid[:2] / pid / ("f" * 64)
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_bytes(png((2, 2, 2)))
    with (
        caplog.at_level(logging.INFO, logger="service.http.blobs"),
        TestClient(create_app(settings)) as again,
    ):
        assert again.get("/images/old/kept.png").content == png((8, 8, 8))
        assert again.get("/v1/products/old/kept.png").json()["origin"] == "upload"
    left = uploads(data)
    assert left == {
        f".blobs/{point_id('old/kept.png')[:2]}/{point_id('old/kept.png')}/"
        f"{hashlib.sha256(png((8, 8, 8))).hexdigest()}"
    }
    assert "old/kept.png is indexed: kept" in caplog.text
    assert "removed orphan.png: not indexed" in caplog.text
    assert "not indexed (no product)" in caplog.text and "not a point id" in caplog.text
    assert (
        "1 earlier-layout photos indexed and kept, 3 photos not indexed removed, 2 temporary"
        in caplog.text
    )


def test_the_longest_caption_can_be_found_by_its_exact_text(keyed):
    client, _, _ = keyed
    caption = ("白色运动鞋 男士款 " * 250)[:1999] + "鞋"
    assert len(caption.strip()) == 2000
    r = post(client, [("long/caption.png", png((50, 60, 70)))], [caption])
    assert r.status_code == 200, r.text
    hits = client.get("/v1/search", params={"q": caption, "k": 3}).json()["results"]
    assert hits[0]["image"] == "long/caption.png" and hits[0]["score"] == 1.0
    assert client.get("/v1/search", params={"q": caption + "鞋"}).status_code == 422
    assert client.delete("/v1/products/long/caption.png", headers=AUTH).status_code == 200
