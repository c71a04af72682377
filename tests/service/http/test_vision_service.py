"""The served app with a generator that sees images: the photo of a catalog file, of an
uploaded product and of a photo sent with the question all reach it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.conftest import photo


class Seeing:
    """A vision generator that records the photos it is given."""

    name = "seeing"
    vision = True

    def __init__(self) -> None:
        self.images: list[Image.Image | None] = []

    def stream(self, messages, max_new_tokens=256, image=None):
        self.images.append(image)
        yield "看到了。"


def png(color, size) -> bytes:
    buffer = io.BytesIO()
    photo(color, size=size).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def seeing(served):
    client, _ = served
    service = client.app.state.service
    real, service.answerer.generator = service.answerer.generator, Seeing()
    yield service.answerer.generator
    service.answerer.generator = real


def test_the_photo_reaches_a_vision_model_whatever_its_origin(served, seeing):
    client, images = served
    q = "请对给定的图片进行描述。"
    r = client.post("/v1/ask", json={"question": q, "image": "1000.jpg"})
    assert r.status_code == 200, r.text
    assert r.json()["meta"]["image_shown"] is True
    with Image.open(images / "1000.jpg") as catalog_photo:
        assert seeing.images[-1].size == catalog_photo.size  # read from TUWEN_IMAGES_DIR

    made = client.post(
        "/v1/products",
        files=[("images", ("seen/7001.png", png((20, 200, 40), (64, 56)), "image/png"))],
        data={"captions": ["Zara 女士绿色丝绸连衣裙"]},
    )
    assert made.status_code == 200, made.text
    try:
        r = client.post("/v1/ask", json={"question": q, "image": "seen/7001.png"})
        assert r.json()["meta"]["image_shown"] is True
        assert seeing.images[-1].size == (64, 56)  # the uploaded product's stored photo
    finally:
        client.delete("/v1/products/seen/7001.png")

    r = client.post(
        "/v1/ask",
        data={"question": q},
        files={"photo": ("mine.png", png((200, 30, 30), (72, 40)), "image/png")},
    )
    assert r.status_code == 200, r.text
    assert seeing.images[-1].size == (72, 40) and r.json()["image"] is None
