from __future__ import annotations

import numpy as np
import pytest

from service.router import (
    EmbeddingRouter,
    Route,
    choose_k,
    extract_product_text,
    format_question_report,
    kmeans,
    question_report,
    route,
    tfidf,
)

R, D, A = "retrieve", "describe", "attribute"

ROUTING = [
    # the competition's examples
    ("请对给定的图片进行描述。", D, None, None),
    (
        "请匹配到与 2019秋冬新款百搭长裙女百褶裙 最相关的图片。",
        R,
        None,
        "2019秋冬新款百搭长裙女百褶裙",
    ),
    ("这是一款什么样的连衣裙？", A, "category", None),
    ("这款衬衫的面料是什么？", A, "material", None),
    ("图中是女款服装吗？", A, "gender", None),
    ("图中服装是什么颜色？", A, "color", None),
    ("图中模特搭配了什么鞋子？", A, "shoes", None),
    # other retrieve phrasings
    (
        "请匹配到与 Levis背心 男士款 白色 休闲风格 最相关的图片。",
        R,
        None,
        "Levis背心 男士款 白色 休闲风格",
    ),
    ("找出与「白色运动鞋」最匹配的图片", R, None, "白色运动鞋"),
    ("哪张图片最符合黑色男士衬衫？", R, None, "黑色男士衬衫"),
    ("哪张图片与“蓝色牛仔裤”最相关？", R, None, "蓝色牛仔裤"),
    ("检索「女士红色手提包」的图片", R, None, "女士红色手提包"),
    ("帮我找一张女士手提包的照片", R, None, "女士手提包"),
    ("与 Nike 男士黑色运动T恤 最相似的图片是哪张？", R, None, "Nike 男士黑色运动T恤"),
    (
        "请找出与以下描述最相关的图片：Levis 男士黑色休闲三角内裤",
        R,
        None,
        "Levis 男士黑色休闲三角内裤",
    ),
    ("帮我找一件红色的连衣裙", R, None, "红色的连衣裙"),
    # other describe phrasings
    ("描述一下这张图片", D, None, None),
    ("介绍一下图中的商品", D, None, None),
    ("说说这张图", D, None, None),
    ("图片里有什么？", D, None, None),
    # other attribute phrasings
    ("图中商品是什么颜色？", A, "color", None),
    ("这件商品是什么颜色的？", A, "color", None),
    ("这双鞋是什么颜色？", A, "color", None),
    ("请介绍这件商品的颜色", A, "color", None),
    ("这款运动风格的鞋子是什么颜色", A, "color", None),
    ("这是一款什么商品？", A, "category", None),
    ("图中是什么类型的商品？", A, "category", None),
    ("这款商品属于哪一类？", A, "category", None),
    ("这是什么？", A, "category", None),
    ("这是男款还是女款？", A, "gender", None),
    ("这件红色衬衫是男款吗？", A, "gender", None),
    ("这是给男生穿的还是给女生穿的？", A, "gender", None),
    ("这是男女通用的吗？", A, "gender", None),
    ("这款商品适合什么场合？", A, "usage", None),
    ("这款男士衬衫适合什么场合？", A, "usage", None),
    ("这件衣服适合什么时候穿？", A, "usage", None),
    ("这件衣服是什么材质的？", A, "material", None),
    ("它是用什么做的？", A, "material", None),
    ("这件衣服是什么风格？", A, "style", None),
    ("这件衣服的风格是什么", A, "style", None),
    ("模特脚上穿的是什么鞋", A, "shoes", None),
    ("这身衣服配了什么鞋", A, "shoes", None),
    ("这个包多少钱？", A, None, None),
]


@pytest.mark.parametrize(("question", "kind", "attribute", "product"), ROUTING)
def test_route_table(question, kind, attribute, product):
    assert route(question) == Route(kind, attribute, product)


def test_routing_table_is_broad():
    assert len(ROUTING) >= 25
    assert {row[1] for row in ROUTING} == {R, D, A}
    assert {row[2] for row in ROUTING if row[1] == A} >= {
        "color",
        "category",
        "gender",
        "usage",
        "material",
        "style",
        "shoes",
    }


def test_product_text_strips_quotes_and_whitespace():
    assert (
        extract_product_text("请匹配到与 「  女士 红色 连衣裙 」 最相关的图片。")
        == "女士 红色 连衣裙"
    )
    assert extract_product_text("图中服装是什么颜色？") is None


def test_attribute_words_inside_a_retrieve_question_do_not_change_its_kind():
    r = route("请匹配到与 男士衬衫 颜色 黑色 场合 正装 最相关的图片。")
    assert r.kind == R
    assert r.product_text == "男士衬衫 颜色 黑色 场合 正装"


QUESTIONS = [
    "请对给定的图片进行描述。",
    "请描述一下这张图片。",
    "请对这张图片进行描述。",
    "图中商品是什么颜色？",
    "这件商品是什么颜色的？",
    "图中服装是什么颜色？",
    "请匹配到与 Levis 男士黑色休闲三角内裤 最相关的图片。",
    "请匹配到与 Nike 女士蓝色运动T恤 最相关的图片。",
    "请匹配到与 Puma 男士白色运动鞋 最相关的图片。",
]


def test_question_report_counts_and_clusters_separate_kinds():
    report = question_report(QUESTIONS, k=3)
    assert report["n"] == 9
    assert report["kinds"] == {"retrieve": 3, "describe": 3, "attribute": 3}
    assert report["attributes"] == {"color": 3}
    assert report["k"] == 3
    assert sorted(c["size"] for c in report["clusters"]) == [3, 3, 3]
    for cluster in report["clusters"]:
        assert len(cluster["kinds"]) == 1, cluster  # each cluster holds one kind
        assert 1 <= len(cluster["examples"]) <= 3
        assert cluster["top_terms"]
    terms = {t for c in report["clusters"] for t in c["top_terms"]}
    assert {"描述", "颜色", "匹配"} <= terms
    text = format_question_report(report)
    assert "retrieve" in text and "k=3" in text and "颜色" in text


def test_question_report_is_deterministic_and_chooses_k():
    a = question_report(QUESTIONS)
    b = question_report(QUESTIONS)
    assert a == b
    assert a["k"] == choose_k(9)
    assert question_report([])["clusters"] == []
    with pytest.raises(ValueError, match="k must be at least 1"):
        question_report(QUESTIONS, k=0)


def test_choose_k_bounds():
    assert choose_k(1) == 1
    assert choose_k(3) == 2
    assert choose_k(200) == 10
    assert choose_k(10_000) == 12


def test_tfidf_weights_rare_terms_higher_and_normalises_rows():
    matrix, terms = tfidf([["a", "b"], ["a", "c"], ["a", "c"]])
    assert terms == ["a", "b", "c"]
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0)
    assert matrix[0, terms.index("b")] > matrix[0, terms.index("a")]
    idf_b, idf_a = np.log(4 / 2) + 1, np.log(4 / 4) + 1
    np.testing.assert_allclose(matrix[0], np.array([idf_a, idf_b, 0]) / np.hypot(idf_a, idf_b))


def test_kmeans_finds_separated_blobs_deterministically():
    rng = np.random.default_rng(1)
    points = np.vstack([rng.normal(0, 0.1, (10, 2)), rng.normal(5, 0.1, (10, 2))])
    labels, centres = kmeans(points, 2, seed=3)
    assert len(set(labels[:10])) == 1 and len(set(labels[10:])) == 1
    assert labels[0] != labels[10]
    np.testing.assert_array_equal(labels, kmeans(points, 2, seed=3)[0])
    with pytest.raises(ValueError, match="between 1 and the number of points"):
        kmeans(points, 21)


class CharEncoder:
    """A stand-in sentence encoder: bag of characters hashed into 256 dimensions."""

    def encode(self, sentences):
        out = np.zeros((len(sentences), 256))
        for i, s in enumerate(sentences):
            for ch in s:
                out[i, ord(ch) % 256] += 1
        return out


class ConstantEncoder:
    def encode(self, sentences):
        return np.ones((len(sentences), 4))


def test_embedding_router_uses_nearest_centroid():
    router = EmbeddingRouter(
        CharEncoder(),
        {
            "describe": ["描述这张图片", "描述一下图片"],
            "attribute:color": ["什么颜色", "颜色是什么"],
            "retrieve": ["匹配到与 X 最相关的图片"],
        },
        min_similarity=0.1,
        min_margin=0.0,
    )
    assert router.route("这是什么颜色") == Route(A, "color")
    assert router.route("请描述图片") == Route(D)
    r = router.route("请匹配到与 红色裙子 最相关的图片。")
    assert r == Route(R, None, "红色裙子")


def test_embedding_router_falls_back_to_rules_when_unsure():
    router = EmbeddingRouter(ConstantEncoder())  # every centroid identical: margin 0
    assert router.route("这款衬衫的面料是什么？") == Route(A, "material")
    label, similarity, margin = router.classify("任何问题")
    assert margin == pytest.approx(0.0)


def test_embedding_router_rejects_unknown_labels():
    with pytest.raises(ValueError, match="unknown example label"):
        EmbeddingRouter(CharEncoder(), {"colour": ["什么颜色"]})
    with pytest.raises(ValueError, match="no phrasings"):
        EmbeddingRouter(CharEncoder(), {"describe": []})
