"""``GET /v1/search`` filters and ``GET /v1/facets`` over the served 10-photo catalog."""

from __future__ import annotations

from tests.service.http.conftest import served  # noqa: F401 - the fixture


def test_search_filters_keep_only_matching_products(served) -> None:  # noqa: F811
    client, _ = served
    r = client.get("/v1/search", params={"q": "男士衬衫", "k": 10, "color": "黑色"})
    assert r.status_code == 200, r.text
    captions = [x["caption"] for x in r.json()["results"]]
    assert captions and all("黑色" in c for c in captions)
    # 男 is read as the canonical 男士; repeated values are any of
    r = client.get(
        "/v1/search",
        params=[("q", "衬衫"), ("k", "10"), ("gender", "男"), ("color", "黑"), ("color", "紫色")],
    )
    captions = sorted(x["caption"] for x in r.json()["results"])
    assert len(captions) == 3 and all("男士" in c for c in captions)
    assert all("黑色" in c or "紫色" in c for c in captions)


def test_unknown_query_field_is_422_naming_it(served) -> None:  # noqa: F811
    client, _ = served
    r = client.get("/v1/search", params={"q": "衬衫", "colour": "红色"})
    assert r.status_code == 422 and "colour" in r.json()["detail"]
    r = client.get("/v1/facets", params={"field": "colour"})
    assert r.status_code == 422 and "colour" in r.json()["detail"]
    r = client.get("/v1/facets", params={"field": "color", "size": "M"})
    assert r.status_code == 422 and "size" in r.json()["detail"]


def test_facets_count_catalog_filtered_and_query(served) -> None:  # noqa: F811
    client, _ = served
    r = client.get("/v1/facets", params={"field": "gender"})
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == [{"value": "男士", "count": 5}, {"value": "女士", "count": 3}]
    r = client.get("/v1/facets", params={"field": "color", "gender": "女"})
    counts = {c["value"]: c["count"] for c in r.json()["counts"]}
    assert counts == {"红色": 1, "蓝色": 1, "棕色": 1}
    r = client.get("/v1/facets", params={"field": "gender", "q": "衬衫", "candidates": 2})
    assert sum(c["count"] for c in r.json()["counts"]) == 2


def test_post_search_with_catalog_photo_and_words(served) -> None:  # noqa: F811
    client, images = served
    r = client.post("/v1/search", data={"q": "红色", "image": "1000.jpg", "k": "5"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results and "1000.jpg" not in [x["image"] for x in results]
    assert results[0]["image"] == "sub/1003.jpg"  # the only red product (a dress)
    with (images / "1000.jpg").open("rb") as fh:
        r = client.post("/v1/search", data={"q": "红色"}, files={"photo": ("x.jpg", fh)})
    assert r.status_code == 200, r.text
    assert client.post("/v1/search", data={"q": "红色"}).status_code == 422
    r = client.post("/v1/search", data={"q": "红色", "image": "nope.jpg"})
    assert r.status_code == 404


def test_collapse_lists_variants(served) -> None:  # noqa: F811
    client, _ = served
    r = client.get("/v1/search", params={"q": "衬衫", "k": 10, "collapse": "true"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    shown = [x["image"] for x in results] + [v for x in results for v in x["variants"]]
    assert len(shown) == len(set(shown)) == 10  # every hit once, as a result or a variant


def test_collapse_thresholds_are_settings(tmp_path, tiny_encoder, tiny_clip_dir) -> None:
    from fastapi.testclient import TestClient

    from tests.service.http.conftest import keyed_app

    app, _, _ = keyed_app(
        tmp_path, tiny_encoder, tiny_clip_dir, variant_image_min=-1.0, variant_look_min=-1.0
    )
    with TestClient(app) as client:
        r = client.get("/v1/search", params={"q": "衬衫", "k": 10, "collapse": "true"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]  # no threshold: every photo is the first one's variant
    assert len(results) == 1 and len(results[0]["variants"]) == 9
