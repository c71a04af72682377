"""The embedding router: nearest centroid, the rules when unsure."""

from __future__ import annotations

import numpy as np
import pytest

from service.routing import EmbeddingRouter, Route

R, D, A = "retrieve", "describe", "attribute"


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
