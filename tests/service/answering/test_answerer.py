"""The answering core on a small catalog whose right answers are known.

Each product group's photos share their pixels, so even a tiny random CLIP puts a copy of
a group's photo next to that group: the neighbours, and so the answers, are known.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

import pytest

from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.store import EdgeStore
from service.answering.answerer import Answer, Answerer
from service.answering.retrieve import ImageNotFound, Retriever
from service.generation.base import GeneratorUnavailable
from tests.conftest import photo

GROUPS = {
    "red": ((200, 30, 30), "Peter England 男士红色正装衬衫"),
    "blue": ((30, 40, 200), "Vero Moda 女士蓝色休闲连衣裙"),
    "green": ((30, 190, 60), "ASICS 男士绿色运动鞋"),
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("answer-cat")
    images = root / "images"
    images.mkdir()
    rows = []
    for g, (color, caption) in GROUPS.items():
        for i in range(3):
            photo(color, seed=1).save(images / f"{g}{i}.png")
            rows.append((f"{g}{i}.png", caption))
        photo(color, seed=1).save(images / f"{g}-query.png")  # unannotated copy
    with (root / "captions.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("image", "text"), *rows])
    return images, root / "captions.csv"


@pytest.fixture(scope="module")
def store(catalog, tiny_encoder, tmp_path_factory):
    images, captions = catalog
    s = EdgeStore(tmp_path_factory.mktemp("answer-data"))
    run_ingest(load_catalog(images, captions), s, tiny_encoder, progress=False, workers=1)
    yield s
    s.close()


@pytest.fixture
def answerer(store, tiny_encoder):
    return Answerer(Retriever(store, tiny_encoder), None, k=3)


def files(a: Answer) -> set[str]:
    return {c.image for c in a.citations}


def test_attribute_answer_comes_from_the_nearest_annotated_products(answerer):
    a = answerer.ask("图中商品是什么颜色？", "red-query.png")
    assert a.kind == "attribute" and a.attribute == "color"
    assert "红色" in a.answer and "[" not in a.answer
    assert files(a) and files(a) <= {"red0.png", "red1.png", "red2.png"}
    assert a.backend == "extractive" and a.image == "red-query.png"
    assert set(a.timings) == {"route", "encode", "search", "prompt", "generate"}
    g = answerer.ask("这是男款还是女款？", "blue-query.png")
    assert "女士" in g.answer and files(g) <= {"blue0.png", "blue1.png", "blue2.png"}


def test_describe_composes_the_neighbours_attributes(answerer):
    a = answerer.ask("请对给定的图片进行描述。", "green-query.png")
    assert a.kind == "describe"
    for word in ("男士", "绿色", "运动鞋"):
        assert word in a.answer
    assert files(a) <= {"green0.png", "green1.png", "green2.png"}


def test_retrieve_returns_the_top_image_and_ranked_candidates(answerer):
    a = answerer.ask("请匹配到与 Vero Moda 女士蓝色休闲连衣裙 最相关的图片。")
    assert a.kind == "retrieve" and a.backend == "retrieval"
    assert a.answer in {"blue0.png", "blue1.png", "blue2.png"}
    assert a.citations[0].image == a.answer
    scores = [c.score for c in a.citations]
    assert scores == sorted(scores, reverse=True) and len(a.citations) >= 3


def test_a_search_for_what_the_photo_shows_searches_by_the_photo(answerer):
    a = answerer.ask("找出与这张图片最相似的商品", "green-query.png")
    assert a.kind == "retrieve" and a.answer in {"green0.png", "green1.png", "green2.png"}
    assert {c.image for c in a.citations[:3]} == {"green0.png", "green1.png", "green2.png"}
    # without a photo the words are all there is to search by
    assert answerer.ask("找出与这张图片最相似的商品").kind == "retrieve"


def test_catalog_image_reuses_its_stored_vector(answerer, monkeypatch):
    def no_encoding(*args, **kwargs):
        raise AssertionError("a catalog image must not be re-encoded")

    monkeypatch.setattr(answerer.retriever.encoder, "encode_images", no_encoding)
    assert "红色" in answerer.ask("图中服装是什么颜色？", "red-query.png").answer


def test_uploaded_photo_is_encoded_and_answered(answerer, tmp_path):
    upload = tmp_path / "upload.jpg"
    photo((30, 40, 200), seed=1).save(upload, quality=95)
    a = answerer.ask("图中服装是什么颜色？", upload.read_bytes())
    assert "蓝色" in a.answer and a.image is None
    with pytest.raises(ImageNotFound):
        answerer.ask("图中服装是什么颜色？", b"not an image")
    with pytest.raises(ImageNotFound):
        answerer.ask("图中服装是什么颜色？", "missing.png")


def test_own_caption_leads_and_the_image_itself_is_not_a_neighbour(answerer):
    hits = answerer.retriever.neighbours(answerer.retriever.resolve_image("red0.png"), 3)
    assert hits[0].file == "red0.png" and hits[0].score == 1.0
    assert [h.file for h in hits[1:]].count("red0.png") == 0
    plain = answerer.retriever.neighbours(answerer.retriever.resolve_image("red-query.png"), 3)
    assert "red-query.png" not in [h.file for h in plain]  # unannotated: never its own neighbour
    assert all(h.caption for h in plain)


class Scripted:
    """A generator that answers with a fixed text (as a misbehaving LLM might)."""

    name = "scripted"

    def __init__(self, text: str) -> None:
        self.text = text
        self.messages = None

    def stream(self, messages, max_new_tokens=256) -> Iterator[str]:
        self.messages = messages
        yield from (self.text[:5], self.text[5:])


def test_citations_of_files_retrieval_did_not_return_are_dropped(store, tiny_encoder):
    gen = Scripted("这是红色的衬衫。[red1.png][../../etc/passwd.png][blue0.png] 另见 evil.jpg")
    a = Answerer(Retriever(store, tiny_encoder), gen, k=3).ask(
        "图中商品是什么颜色？", "red-query.png"
    )
    assert [c.image for c in a.citations] == ["red1.png"]
    assert set(a.meta["dropped_citations"]) == {"../../etc/passwd.png", "blue0.png", "evil.jpg"}
    assert a.answer.startswith("这是红色的衬衫。") and "[red1.png]" not in a.answer
    prompt = "\n".join(m["content"] for m in gen.messages)
    assert "red0.png" in prompt and "Peter England 男士红色正装衬衫" in prompt


def test_stream_yields_text_then_the_answer(answerer):
    items = list(answerer.stream("图中商品是什么颜色？", "green-query.png"))
    assert isinstance(items[-1], Answer)
    assert all(isinstance(x, str) for x in items[:-1]) and items[:-1]
    with pytest.raises(ValueError, match="empty"):
        answerer.ask("   ")


def test_answer_and_eval_commands_on_a_query_file(
    catalog, store, tiny_clip_dir, tmp_path, monkeypatch, capsys
):
    from service.cli import main

    images, _ = catalog
    queries = [
        {"question": "图中商品是什么颜色？", "related_image": "red-query.png", "answer": ""},
        {
            "question": "请匹配到与 ASICS 男士绿色运动鞋 最相关的图片。",
            "related_image": "",
            "answer": "",
        },
        {"question": "这款衬衫的面料是什么？", "related_image": "no-such.png", "answer": ""},
        {"question": "请对给定的图片进行描述。", "related_image": "blue-query.png", "answer": ""},
    ]
    truth = [
        {"type": "color", "answer": "红色", "accept": ["红色"]},
        {
            "type": "retrieve",
            "answer": "green0.png",
            "accept": ["green0.png", "green1.png", "green2.png"],
        },
        {"type": "category", "answer": "衬衫", "accept": ["衬衫"]},
        {
            "type": "describe",
            "answer": "Vero Moda 女士蓝色休闲连衣裙",
            "attributes": ["女士", "蓝色", "连衣裙"],
        },
    ]
    (tmp_path / "q.json").write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "t.json").write_text(json.dumps(truth, ensure_ascii=False), encoding="utf-8")
    data_dir = store.data_dir
    store.close()  # the CLI opens the embedded store itself
    try:
        code = main(
            [
                "answer",
                str(tmp_path / "q.json"),
                "-o",
                str(tmp_path / "out.json"),
                "--data-dir",
                str(data_dir),
                "--llm",
                "extractive",
                "-q",
            ]
        )
        assert code == 3  # one question failed, the batch went on
        out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
        assert [o["question"] for o in out] == [q["question"] for q in queries]
        assert "红色" in out[0]["answer"] and out[0]["citations"]
        assert out[1]["answer"].startswith("green")
        assert out[2]["answer"] == "" and "no-such.png" in out[2]["error"]
        assert "蓝色" in out[3]["answer"]
        capsys.readouterr()
        assert (
            main(
                [
                    "eval",
                    str(tmp_path / "out.json"),
                    "--truth",
                    str(tmp_path / "t.json"),
                    "--json",
                    "--images",
                    str(images),
                ]
            )
            == 0
        )
        m = json.loads(capsys.readouterr().out)
        assert m["n"] == 4 and m["retrieve_r1"] == 1.0 and m["acc_color"] == 1.0
        assert (
            m["acc_category"] == 0.0 and m["describe_coverage"] == 1.0 and m["acc_gender"] is None
        )
        assert m["citation_valid"] == 0.75  # the failed question cites nothing
        assert (
            main(
                [
                    "ask",
                    "图中商品是什么颜色？",
                    "--image",
                    "green-query.png",
                    "--data-dir",
                    str(data_dir),
                    "--json",
                ]
            )
            == 0
        )
        asked = json.loads(capsys.readouterr().out)
        assert "绿色" in asked["answer"] and asked["citations"][0]["image"].startswith("green")
        assert (
            main(
                ["ask", "图中商品是什么颜色？", "--image", "nope.png", "--data-dir", str(data_dir)]
            )
            == 1
        )
        assert "nope.png" in capsys.readouterr().err
        assert main(["questions", str(tmp_path / "q.json"), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["n"] == 4 and report["kinds"] == {
            "attribute": 2,
            "retrieve": 1,
            "describe": 1,
        }
        assert sum(c["size"] for c in report["clusters"]) == 4
    finally:
        store.__init__(data_dir)  # reopen for the module's other tests


def test_retrieve_puts_exact_caption_matches_first_then_their_look_alikes(answerer):
    hits = answerer.retriever.search("ASICS 男士绿色运动鞋", 6, exact_first=True, lookalikes=3)
    assert {h.file for h in hits[:3]} == {"green0.png", "green1.png", "green2.png"}
    assert all(h.score == 1.0 for h in hits[:3])
    # the unannotated photo that looks like the matches follows them
    assert hits[3].file == "green-query.png"


class Failing:
    """A generator whose backend is down: it fails before (or after) its first piece."""

    name = "openai:glm@http://down"

    def __init__(self, after: int = 0) -> None:
        self.after = after
        self.calls = 0

    def stream(self, messages, max_new_tokens=256) -> Iterator[str]:
        self.calls += 1
        yield from ["这是"][: self.after]
        raise GeneratorUnavailable("connection refused")


def test_without_a_model_the_answer_is_a_vote_over_every_neighbour(store, tiny_encoder):
    """No ``[file]`` markers round-trip, and a prompt budget cannot trim the voters."""
    retriever = Retriever(store, tiny_encoder)
    roomy = Answerer(retriever, None, k=3)
    cramped = Answerer(retriever, None, k=3, token_budget=1)  # no candidate fits a prompt
    a = roomy.ask("图中商品是什么颜色？", "red-query.png")
    b = cramped.ask("图中商品是什么颜色？", "red-query.png")
    assert a.answer == b.answer == "图中商品是红色的。"
    assert [c.image for c in b.citations] == [c.image for c in a.citations]
    assert len(a.citations) == 3 and a.meta["cited_by_model"] is True
    assert a.meta["vqa"]["fields"]["color"]["candidates"] == [["红色", 1.0]]
    assert roomy.backend == a.backend == "extractive" and a.timings["prompt"] == 0.0


def test_an_unavailable_model_falls_back_to_the_extractive_answer(answerer, store, tiny_encoder):
    failing = Failing()
    llm = Answerer(Retriever(store, tiny_encoder), failing, k=3)
    items = list(llm.stream("图中商品是什么颜色？", "red-query.png"))
    a, plain = items[-1], answerer.ask("图中商品是什么颜色？", "red-query.png")
    assert items[:-1] == [plain.answer] and failing.calls == 1
    assert a.backend == "extractive (fallback: connection refused)"
    assert a.meta["fallback"] == "connection refused" and a.meta["cited_by_model"] is True
    assert (a.answer, a.citations) == (plain.answer, plain.citations)
    assert llm.backend == "openai:glm@http://down"  # the next question tries the model again


def test_a_model_failing_mid_answer_is_an_error(store, tiny_encoder):
    llm = Answerer(Retriever(store, tiny_encoder), Failing(after=1), k=3)
    with pytest.raises(GeneratorUnavailable, match="connection refused"):
        llm.ask("图中商品是什么颜色？", "red-query.png")


def test_retrieve_questions_are_answered_by_retrieval_even_with_a_model(
    answerer, store, tiny_encoder
):
    gen = Scripted("[blue9.png]")
    question = "请匹配到与 Vero Moda 女士蓝色休闲连衣裙 最相关的图片。"
    a = Answerer(Retriever(store, tiny_encoder), gen, k=3).ask(question)
    plain = answerer.ask(question)
    assert gen.messages is None  # the model was not asked
    assert a.backend == "retrieval" and (a.answer, a.citations) == (plain.answer, plain.citations)
