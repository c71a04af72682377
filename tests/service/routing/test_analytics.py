"""The question report: kinds, attributes, TF-IDF and k-means clusters."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.keywords import FUNCTION_WORDS
from service.routing import choose_k, format_question_report, kmeans, question_report, tfidf

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
    assert {"描述", "颜色", "匹配"} <= terms  # question words keyword search drops stay here
    assert not terms & FUNCTION_WORDS
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
