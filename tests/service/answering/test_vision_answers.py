"""Answers from a model that sees the photo: the Answerer hands the questioned photo to a
generator that declares ``vision = True`` (never to a text one), tells it so in the prompt,
and lets it cite the photo itself and the neighbours it was shown, nothing else."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator

import pytest
from PIL import Image

from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.settings import Settings
from ingest.store import EdgeStore
from service.answering.answerer import Answerer
from service.answering.photo import catalog_photo_path
from service.answering.retrieve import Retriever
from service.generation import generator_from
from tests.conftest import photo
from tests.service.generation.conftest import FakeOpenAI

GROUPS = {
    "red": ((200, 30, 30), "Peter England 男士红色正装衬衫"),
    "blue": ((30, 40, 200), "Vero Moda 女士蓝色休闲连衣裙"),
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision-cat")
    images = root / "images"
    images.mkdir()
    rows = []
    for g, (color, caption) in GROUPS.items():
        for i in range(3):
            photo(color, size=(96, 80), seed=1).save(images / f"{g}{i}.png")
            rows.append((f"{g}{i}.png", caption))
        photo(color, size=(96, 80), seed=1).save(images / f"{g}-query.png")  # no caption
    with (root / "captions.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("image", "text"), *rows])
    return images, root / "captions.csv"


@pytest.fixture(scope="module")
def store(catalog, tiny_encoder, tmp_path_factory):
    images, captions = catalog
    s = EdgeStore(tmp_path_factory.mktemp("vision-data"))
    run_ingest(load_catalog(images, captions), s, tiny_encoder, progress=False, workers=1)
    yield s
    s.close()


class Seeing:
    """A vision generator that answers with a fixed text and records what it was given."""

    name = "seeing"
    vision = True

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[dict] = []

    def stream(self, messages, max_new_tokens=256, image=None) -> Iterator[str]:
        self.calls.append({"messages": messages, "image": image})
        yield from (self.text[:4], self.text[4:])


class Blind:
    """A text generator: its ``stream`` takes no image (passing one would be a TypeError)."""

    name = "blind"

    def __init__(self, text: str) -> None:
        self.text = text
        self.messages = None

    def stream(self, messages, max_new_tokens=256) -> Iterator[str]:
        self.messages = messages
        yield self.text


ANSWER = "红色衬衫。[red-query.png][red1.png][blue0.png][elsewhere.png]"


def test_a_vision_model_sees_the_photo_and_may_cite_it(store, tiny_encoder, catalog):
    images, _ = catalog
    gen = Seeing(ANSWER)
    answerer = Answerer(
        Retriever(store, tiny_encoder), gen, k=3, photo_path=catalog_photo_path(images)
    )
    a = answerer.ask("图中衬衫是什么颜色？", "red-query.png")
    (call,) = gen.calls
    assert call["image"] is not None and call["image"].size == (96, 80)  # the photo's pixels
    assert call["image"].getpixel((90, 75)) == pytest.approx((200, 30, 30), abs=12)
    user = call["messages"][-1]["content"]
    assert (
        "提问图片：[red-query.png]（附在本消息中）" in user and "附在本消息中：请先看图片" in user
    )
    # the photo itself and the neighbours it was shown: kept; anything else: dropped
    assert [c.image for c in a.citations] == ["red-query.png", "red1.png"]
    assert set(a.meta["dropped_citations"]) == {"blue0.png", "elsewhere.png"}
    assert a.meta["image_shown"] is True and a.backend == "seeing"
    assert a.answer == "红色衬衫。"


def test_a_text_model_gets_no_photo_and_may_not_cite_an_unshown_one(store, tiny_encoder, catalog):
    images, _ = catalog
    gen = Blind(ANSWER)
    a = Answerer(
        Retriever(store, tiny_encoder), gen, k=3, photo_path=catalog_photo_path(images)
    ).ask("图中衬衫是什么颜色？", "red-query.png")
    assert [c.image for c in a.citations] == ["red1.png"]
    assert "red-query.png" in a.meta["dropped_citations"]  # it never saw that photo
    assert "image_shown" not in a.meta
    assert "附在本消息中" not in gen.messages[-1]["content"]


def test_an_upload_is_shown_but_has_no_file_to_cite(store, tiny_encoder, tmp_path):
    upload = tmp_path / "upload.jpg"
    photo((30, 40, 200), size=(300, 200), seed=1).save(upload, quality=95)
    gen = Seeing("蓝色。[upload.jpg]")
    a = Answerer(Retriever(store, tiny_encoder), gen, k=3).ask(
        "图中服装是什么颜色？", upload.read_bytes()
    )
    assert gen.calls[0]["image"].size == (300, 200)
    assert "提问图片：上传的照片，没有文件名" in gen.calls[0]["messages"][-1]["content"]
    assert a.meta["dropped_citations"] == ["upload.jpg"] and a.image is None
    assert a.citations and "upload.jpg" not in {c.image for c in a.citations}


def test_a_catalog_photo_missing_from_the_image_folders_is_answered_from_captions(
    store, tiny_encoder, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the name is no path here either
    gen = Seeing("红色。[red-query.png]")
    a = Answerer(
        Retriever(store, tiny_encoder), gen, k=3, photo_path=catalog_photo_path(tmp_path)
    ).ask("图中衬衫是什么颜色？", "red-query.png")
    assert gen.calls[0]["image"] is None and a.meta["image_shown"] is False
    assert "附在本消息中" not in gen.calls[0]["messages"][-1]["content"]
    assert a.meta["dropped_citations"] == ["red-query.png"]  # not shown: not citable


def test_openai_vision_end_to_end_and_its_fallback(store, tiny_encoder, catalog):
    images, _ = catalog
    with FakeOpenAI() as server:
        settings = Settings(
            llm="openai",
            llm_base_url=f"{server.url}/v1",
            llm_model="qwen2.5-vl",
            llm_vision=True,
            llm_image_side=64,
        )
        answerer = Answerer(
            Retriever(store, tiny_encoder),
            generator_from(settings),
            k=3,
            photo_path=catalog_photo_path(images),
        )
        a = answerer.ask("图中衬衫是什么颜色？", "red-query.png")
        parts = server.requests[-1]["body"]["messages"][-1]["content"]
        assert parts[0]["type"] == "image_url" and "提问图片：[red-query.png]" in parts[1]["text"]
        assert a.backend.startswith("openai-vision:qwen2.5-vl@") and a.meta["image_shown"]
        server.mode = "broken"
        b = answerer.ask("图中衬衫是什么颜色？", "red-query.png")
        assert b.backend.startswith("extractive (fallback:") and "HTTP 500" in b.meta["fallback"]
        assert "红色" in b.answer


def test_tuwen_ask_with_vision_on(store, tiny_encoder, catalog, monkeypatch, capsys):
    from service.cli import main

    images, _ = catalog
    data_dir = store.data_dir
    store.close()  # the CLI opens the embedded store itself
    with FakeOpenAI() as server:
        monkeypatch.setenv("TUWEN_LLM_BASE_URL", f"{server.url}/v1")
        monkeypatch.setenv("TUWEN_LLM_MODEL", "qwen2.5-vl")
        monkeypatch.setenv("TUWEN_LLM_IMAGE_SIDE", "64")
        argv = ["ask", "这款衬衫的面料是什么？", "--image", str(images / "red-query.png")]
        argv += ["--llm", "openai", "--llm-vision", "--json", "--data-dir", str(data_dir)]
        assert main(argv) == 0
        a = json.loads(capsys.readouterr().out)
        assert a["backend"].startswith("openai-vision:") and a["meta"]["image_shown"] is True
        parts = server.requests[-1]["body"]["messages"][-1]["content"]
        url = parts[0]["image_url"]["url"]
        assert url.startswith("data:image/jpeg;base64,")
        sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        assert sent.size == (64, 53)  # 96×80 fitted to TUWEN_LLM_IMAGE_SIDE


def test_catalog_photo_path_stays_inside_the_catalog_folder(catalog, tmp_path):
    images, _ = catalog
    (tmp_path / "secret.png").write_bytes(b"x")
    locate = catalog_photo_path(images)
    assert locate("red0.png") == (images / "red0.png").resolve()
    assert locate("missing.png") is None
    assert locate(f"../../{tmp_path.name}/secret.png") is None
    assert locate(str(tmp_path / "secret.png")) is None  # an absolute name is outside too
    assert catalog_photo_path(None)("red0.png") is None
