from __future__ import annotations

import pytest

from ingest.hits import Hit
from ingest.vqa.sources import vote_weights
from service.answering.extractive import extractive_answer
from service.routing import Route

COLOR = Route("attribute", "color")


@pytest.mark.parametrize(
    ("attribute", "expected", "value"),
    [
        ("color", "图中商品是黑色的。", "黑色"),
        ("gender", "这是男士款。", "男士"),
        ("category", "图中商品是一款三角内裤。", "三角内裤"),
        ("usage", "这款商品适合日常休闲场合。", "休闲"),
        ("style", "这款商品是休闲风格。", "休闲"),
    ],
)
def test_attribute_answers_vote_over_neighbours(hits, attribute, expected, value):
    text, files = extractive_answer(Route("attribute", attribute), hits)
    assert text == expected
    assert value in text
    assert files == ["101.jpg", "102.jpg"]


def test_describe_composes_the_voted_fields(hits):
    text, files = extractive_answer(Route("describe"), hits)
    assert text == "这是一款Levis男士黑色休闲风格的三角内裤。"
    assert files == ["101.jpg", "102.jpg"]


def test_own_caption_outweighs_all_neighbours(hits):
    text, files = extractive_answer(COLOR, hits, own_caption="Puma 女士红色运动T恤")
    assert text == "图中商品是红色的。"
    assert files == ["103.jpg", "sub/104.jpg"]
    text, _ = extractive_answer(Route("describe"), hits, own_caption="Puma 女士红色运动T恤")
    assert text == "这是一款Puma女士红色运动风格的T恤。"


def test_close_runners_up_that_agree_outvote_the_top_hit():
    hits = [
        Hit("1", "1.jpg", "男士黑色休闲衬衫", 0.900),
        Hit("2", "2.jpg", "男士红色休闲衬衫", 0.899),
        Hit("3", "3.jpg", "男士红色休闲衬衫", 0.898),
        Hit("4", "4.jpg", "男士白色休闲衬衫", 0.500),
    ]
    assert extractive_answer(COLOR, hits) == ("图中商品是红色的。", ["2.jpg", "3.jpg"])


def test_a_clearly_better_top_hit_beats_weak_agreeing_neighbours():
    hits = [
        Hit("1", "1.jpg", "男士黑色休闲衬衫", 0.9),
        Hit("2", "2.jpg", "男士红色休闲衬衫", 0.5),
        Hit("3", "3.jpg", "男士红色休闲衬衫", 0.5),
    ]
    assert extractive_answer(COLOR, hits) == ("图中商品是黑色的。", ["1.jpg"])


def test_vote_weights_are_rank_decayed_and_scale_free():
    weights = vote_weights([0.9, 0.8, 0.5])
    assert weights[0] == pytest.approx(1.0)
    assert weights == sorted(weights, reverse=True)
    assert vote_weights([90.0, 80.0, 50.0]) == pytest.approx(weights)
    assert vote_weights([0.03, 0.03]) == pytest.approx([1.0, 2**-0.5])
    assert vote_weights([]) == []


def test_terms_not_in_captions_are_reported_as_missing(hits):
    text, files = extractive_answer(Route("attribute", "material"), hits)
    assert text == "目录中相似商品的说明没有提到面料或材质。"
    assert files == ["101.jpg", "102.jpg", "103.jpg"]  # the captions it read


def test_material_and_shoes_vote_over_lexicon_terms(hits):
    more = [*hits, Hit("5", "105.jpg", "Levis 男士黑色纯棉三角内裤", 0.89)]
    assert extractive_answer(Route("attribute", "material"), more) == (
        "根据目录说明，这款商品的面料是纯棉。",
        ["105.jpg"],
    )
    shoes = [*hits, Hit("6", "106.jpg", "Clarks 女士红色休闲平底鞋", 0.6)]
    text, files = extractive_answer(Route("attribute", "shoes"), shoes)
    assert "平底鞋" in text and files == ["106.jpg"]


def test_retrieve_questions_are_not_voted_on(hits):
    with pytest.raises(ValueError, match="answered by retrieval"):
        extractive_answer(Route("retrieve", None, "黑色内裤"), hits)


def test_a_brand_reads_with_single_spaces():
    spaced = [Hit("1", "1.jpg", "Allen  Solly 男士蓝色休闲衬衫", 0.9)]
    text, _ = extractive_answer(Route("describe"), spaced)
    assert text == "这是一款Allen Solly男士蓝色休闲风格的衬衫。"


def test_open_questions_and_empty_candidates(hits):
    text, files = extractive_answer(Route("attribute", None), hits)
    assert text.startswith("目录中相似商品的说明没有直接回答这个问题。")
    assert "三角内裤" in text and files
    text, files = extractive_answer(COLOR, [Hit("9", "9.jpg", None, 0.9)])
    assert files == [] and "无法回答" in text
