from __future__ import annotations

import pytest

from service.evaluate import METRIC_KEYS, evaluate, format_metrics, lcs_length, rouge_l


def cite(*files):
    return [{"image": f, "caption": "说明", "score": 0.5} for f in files]


TRUTH = [
    {"type": "retrieve", "answer": "a.jpg", "accept": ["a.jpg", "a2.jpg"]},
    {"type": "retrieve", "answer": "b.jpg", "accept": ["b.jpg"]},
    {"type": "retrieve", "answer": "c.jpg", "accept": ["c.jpg"]},
    {"type": "color", "answer": "黑色", "accept": ["黑色"]},
    {"type": "color", "answer": "红色", "accept": ["红色"]},
    {"type": "gender", "answer": "男士", "accept": ["男士"]},
    {"type": "describe", "answer": "男士黑色三角内裤", "attributes": ["男士", "黑色", "三角内裤"]},
    {"type": "describe", "answer": "女士红色", "attributes": ["女士", "红色"]},
]
OUTPUTS = [
    # rank of a2.jpg in [x, y, a2] is 3
    {"answer": "x.jpg", "citations": cite("x.jpg", "y.jpg", "x.jpg", "a2.jpg")},
    # the answer itself is rank 1
    {"answer": "b.jpg", "citations": cite("z.jpg", "b.jpg")},
    # never found
    {"answer": "z.jpg", "citations": cite("z.jpg")},
    {"answer": "图中商品是黑色的。", "citations": cite("k.jpg")},
    {"answer": "图中商品是蓝色的。", "citations": []},  # no citation: invalid
    {
        "answer": "这是男士款。",
        "citations": [{"image": "", "caption": None, "score": 0}],
    },  # invalid
    {"answer": "男士黑色内裤", "citations": cite("m.jpg")},
    {"answer": "红色", "citations": cite("n.png")},
]


def test_metrics_on_a_hand_made_set():
    m = evaluate(OUTPUTS, TRUTH)
    assert list(m)[: len(METRIC_KEYS)] == list(METRIC_KEYS)
    assert m["n"] == 8
    assert m["retrieve_r1"] == pytest.approx(1 / 3)
    assert m["retrieve_r5"] == pytest.approx(2 / 3)
    assert m["retrieve_r10"] == pytest.approx(2 / 3)
    assert m["acc_color"] == pytest.approx(0.5)
    assert m["acc_gender"] == pytest.approx(1.0)
    assert m["acc_category"] is None and m["acc_usage"] is None
    # coverage: 2/3 and 1/2; ROUGE-L: P=1, R=6/8 -> 6/7, and P=1, R=2/4 -> 2/3
    assert m["describe_coverage"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["describe_rouge_l"] == pytest.approx((6 / 7 + 2 / 3) / 2)
    assert m["citation_valid"] == pytest.approx(6 / 8)
    assert m["count_retrieve"] == 3 and m["count_describe"] == 2


def test_catalog_files_restrict_valid_citations():
    catalog = {"x.jpg", "y.jpg", "a2.jpg", "z.jpg", "b.jpg", "k.jpg", "m.jpg"}  # no n.png
    assert evaluate(OUTPUTS, TRUTH, catalog_files=catalog)["citation_valid"] == pytest.approx(5 / 8)


def test_retrieve_answer_may_carry_a_citation_marker():
    truth = [{"type": "retrieve", "answer": "b.jpg", "accept": ["b.jpg"]}]
    m = evaluate([{"answer": "最相关的是 [b.jpg]", "citations": cite("q.jpg")}], truth)
    assert m["retrieve_r1"] == 1.0
    assert m["describe_rouge_l"] is None and m["acc_color"] is None


def test_mismatched_lengths_name_both():
    with pytest.raises(ValueError, match="outputs has 1 entries but truth has 8"):
        evaluate(OUTPUTS[:1], TRUTH)


def test_rouge_l_and_lcs():
    assert lcs_length("男士黑色内裤", "男士黑色三角内裤") == 6
    assert rouge_l("男士 黑色", "男士黑色") == 1.0
    assert rouge_l("红色", "黑白") == 0.0
    assert rouge_l("", "黑色") == 0.0


def test_format_metrics_aligns_values():
    text = format_metrics(evaluate(OUTPUTS, TRUTH))
    lines = text.splitlines()
    assert lines[0].startswith("metric")
    row = next(line for line in lines if line.startswith("retrieve_r1"))
    assert row.endswith("0.333")
    assert next(line for line in lines if line.startswith("acc_usage")).endswith("n/a")
    assert len({line.index(line.split()[-1]) + len(line.split()[-1]) for line in lines[2:]}) == 1


@pytest.mark.parametrize(
    ("answer", "word", "stated"),
    [
        ("这是一款男士衬衫。", "男", True),  # a truth written 男 accepts its variants
        ("男款", "男", True),
        ("女式连衣裙", "女士", True),
        ("藏青系T恤", "藏青色", True),
        ("深蓝色", "蓝色", True),  # a value that contains the truth's
        ("日常穿着", "休闲", True),  # 日常 reads as 休闲
        ("男女通用款", "女", False),  # another value of the same field
        ("男女通用款", "男", False),
        ("女童凉鞋", "女", False),
        ("男女通用款", "男女通用", True),
        ("黑白条纹", "黑色", False),
        ("Levis 背心", "Levis", True),  # words outside the vocabulary: as written
        ("图中是红色的", "蓝色", False),
    ],
)
def test_attribute_values_match_by_canonical_value(answer, word, stated):
    from service.evaluate import states

    assert states(answer, word) is stated


def test_gender_written_as_one_character_is_scored_by_meaning():
    truth = [
        {"type": "gender", "answer": "男", "accept": ["男"]},
        {"type": "gender", "answer": "女", "accept": ["女"]},
        {"type": "describe", "answer": "女黑色上衣", "attributes": ["女", "黑色", "上衣"]},
    ]
    outputs = [
        {"answer": "男士", "citations": cite("a.jpg")},
        {"answer": "男女通用", "citations": cite("b.jpg")},
        {"answer": "一款女款黑色上衣。", "citations": cite("c.jpg")},
    ]
    m = evaluate(outputs, truth)
    assert m["acc_gender"] == 0.5 and m["describe_coverage"] == 1.0
