"""Building the answering core from settings: backend choice and the optional embedding router."""

from __future__ import annotations

import pytest

from ingest.models.fingerprint import ModelNotFound
from ingest.settings import Settings
from service.factory import router_from
from service.routing import route


def test_auto_backend_resolution():
    assert Settings(_env_file=None).llm_backend() == "extractive"
    assert Settings(llm_model="THUDM/glm-edge-1.5b-chat").llm_backend() == "transformers"
    assert (
        Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="glm-4").llm_backend() == "openai"
    )
    assert Settings(llm="extractive", llm_model="x").llm_backend() == "extractive"


def test_rule_router_without_a_text_model():
    assert router_from(Settings()) is route


def test_embedding_router_from_a_local_sentence_transformers_dir(tmp_path):
    from service.routing import DEFAULT_EXAMPLES, Route
    from tests.tiny_models import tiny_sentence_transformer

    expected = {
        "请对给定的图片进行描述。": Route("describe"),
        "这款衬衫的面料是什么？": Route("attribute", "material"),
        "请匹配到与 男士黑色衬衫 最相关的图片。": Route("retrieve", None, "男士黑色衬衫"),
        # the nearest centroid decides where the rules read a topic word...
        "描述一下这张图片的颜色": Route("describe"),
        "黑色男士衬衫 照片": Route("retrieve", None, "黑色男士衬衫 照片"),
        "黑色男士衬衫的图片": Route("retrieve", None, "黑色男士衬衫"),  # both agree
        # ...and the rules decide when no centroid is near
        "这个包多少钱？": Route("attribute", None),
    }
    assert route("描述一下这张图片的颜色") == Route("attribute", "color")
    assert route("黑色男士衬衫 照片") == Route("attribute", "gender")
    examples = "".join(p for phrasings in DEFAULT_EXAMPLES.values() for p in phrasings)
    # one-hot characters: each sentence embeds as its character histogram
    st_dir = tiny_sentence_transformer(tmp_path, examples + "".join(expected), one_hot=True)
    router = router_from(Settings(router_model=str(st_dir)))
    assert {question: router(question) for question in expected} == expected
    with pytest.raises(ModelNotFound, match="TUWEN_ROUTER_MODEL"):
        router_from(Settings(router_model=str(tmp_path / "missing")))
