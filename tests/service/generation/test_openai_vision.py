"""The openai backend with vision on: the photo arrives as an image_url part of the last user
message, a JPEG data URL of the photo's pixels at the configured side; the answer streams."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from ingest.settings import Settings
from service.generation import GeneratorUnavailable, RecoveringGenerator, generate, generator_from
from service.generation.openai_chat import OpenAIGenerator
from tests.conftest import photo
from tests.service.generation.conftest import MESSAGES, PIECES


@pytest.fixture(scope="module")
def catalog_photo(catalog_photos) -> Image.Image:
    """A real catalog photo (224×224), else a generated one (120×90)."""
    return catalog_photos[0]


def received_image(request: dict) -> tuple[Image.Image, list[dict]]:
    """The photo the fake server got, decoded, and the user message's content parts."""
    user = request["body"]["messages"][-1]
    parts = user["content"]
    (image_part,) = [p for p in parts if p["type"] == "image_url"]
    url = image_part["image_url"]["url"]
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))), parts


def test_the_photo_arrives_at_the_configured_side_and_the_answer_streams(
    fake_openai, catalog_photo
):
    side = 96
    gen = OpenAIGenerator(f"{fake_openai.url}/v1", "qwen2.5-vl", vision=True, image_side=side)
    assert gen.vision is True and gen.name.startswith("openai-vision:qwen2.5-vl@")
    pieces = list(gen.stream(MESSAGES, max_new_tokens=32, image=catalog_photo))
    assert pieces == PIECES  # streamed piece by piece, as for text

    request = fake_openai.requests[-1]
    assert request["body"]["stream"] is True
    assert request["body"]["messages"][0] == MESSAGES[0]  # the system message is unchanged
    got, parts = received_image(request)
    assert got.format == "JPEG" and got.mode == "RGB"
    w, h = catalog_photo.size
    assert max(got.size) == side  # the longest side is the configured one...
    assert abs(got.size[0] / got.size[1] - w / h) < 0.05  # ...and the aspect ratio is kept
    # the same pixels: the photo scaled to that size, up to JPEG loss
    expected = np.asarray(catalog_photo.resize(got.size, Image.Resampling.BICUBIC), dtype=float)
    assert np.abs(np.asarray(got, dtype=float) - expected).mean() < 6.0
    assert parts[-1] == {"type": "text", "text": MESSAGES[-1]["content"]}  # the prompt, as is


def test_a_small_photo_is_not_enlarged(fake_openai):
    gen = OpenAIGenerator(f"{fake_openai.url}/v1", "m", vision=True, image_side=768)
    list(gen.stream(MESSAGES, image=photo((20, 120, 200), size=(48, 40))))
    got, _ = received_image(fake_openai.requests[-1])
    assert got.size == (48, 40)


def test_without_vision_the_photo_is_not_sent(fake_openai, catalog_photo):
    gen = OpenAIGenerator(f"{fake_openai.url}/v1", "glm-4")
    assert gen.vision is False and gen.name.startswith("openai:glm-4@")
    assert "".join(gen.stream(MESSAGES, image=catalog_photo)) == "".join(PIECES)
    assert fake_openai.requests[-1]["body"]["messages"] == MESSAGES


def test_vision_settings_reach_the_backend_through_the_recovering_wrapper(
    fake_openai, catalog_photo
):
    settings = Settings(
        llm="openai",
        llm_base_url=f"{fake_openai.url}/v1",
        llm_model="qwen2.5-vl",
        llm_vision=True,
        llm_image_side=64,
        llm_retry_s=5,
    )
    gen = generator_from(settings)
    assert isinstance(gen, RecoveringGenerator) and gen.vision is True
    assert generate(gen, MESSAGES, image=catalog_photo) == "".join(PIECES)
    got, _ = received_image(fake_openai.requests[-1])
    assert max(got.size) == 64

    fake_openai.mode = "broken"  # a failure backs off exactly as for text
    with pytest.raises(GeneratorUnavailable, match="HTTP 500"):
        generate(gen, MESSAGES, image=catalog_photo)
    assert gen.status()["state"] == "backoff"
    with pytest.raises(GeneratorUnavailable):  # during the back-off: refused at once
        generate(gen, MESSAGES, image=catalog_photo)
    assert len(fake_openai.requests) == 2


def test_a_dead_server_is_unavailable_with_the_url(dead_url, catalog_photo):
    gen = OpenAIGenerator(dead_url, "m", timeout=5, vision=True)
    with pytest.raises(GeneratorUnavailable, match="cannot reach"):
        list(gen.stream(MESSAGES, image=catalog_photo))


def test_the_image_side_must_be_positive():
    with pytest.raises(ValueError, match="TUWEN_LLM_IMAGE_SIDE"):
        OpenAIGenerator("http://localhost:8000/v1", "m", vision=True, image_side=0)
