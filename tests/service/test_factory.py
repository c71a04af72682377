"""Building the answering core from settings: backend choice and the optional embedding router."""

from __future__ import annotations

import pytest

from ingest.encoders import ModelNotFound
from ingest.hits import Hit
from ingest.settings import Settings
from service.extractive import AnswerContext
from service.factory import generator_from, router_from
from service.router import route


def test_auto_backend_resolution():
    assert Settings(_env_file=None).llm_backend() == "extractive"
    assert Settings(llm_model="THUDM/glm-edge-1.5b-chat").llm_backend() == "transformers"
    assert (
        Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="glm-4").llm_backend() == "openai"
    )
    assert Settings(llm="extractive", llm_model="x").llm_backend() == "extractive"
    assert generator_from(Settings()).name == "extractive"
    # an unreachable server degrades to extractive, and says so in the backend name
    gen = generator_from(Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="glm-4"))
    assert gen.name.startswith("openai:glm-4")
    ctx = AnswerContext(route("图中商品是什么颜色？"), (Hit("1", "a.jpg", "男士黑色衬衫", 0.9),))
    text = "".join(gen.stream([{"role": "user", "content": "?"}], context=ctx))
    assert "黑色" in text and gen.name.startswith("extractive (fallback:")


def test_rule_router_without_a_text_model():
    assert router_from(Settings()) is route


def test_embedding_router_from_a_local_sentence_transformers_dir(tmp_path):
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    chars = sorted(
        set("请对给定的图片进行描述匹配到与最相关这款衬衫面料是什么图中服装颜色男女吗士黑白红蓝")
    )
    (tmp_path / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars])
    )
    bert = tmp_path / "bert"
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(bert)
    cfg = BertConfig(
        vocab_size=len(chars) + 5,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(bert)
    st_dir = tmp_path / "st"
    word = models.Transformer(str(bert))
    SentenceTransformer(modules=[word, models.Pooling(word.get_embedding_dimension())]).save(
        str(st_dir)
    )
    router = router_from(Settings(router_model=str(st_dir)))
    r = router("请对给定的图片进行描述。")
    assert r.kind in {"describe", "retrieve", "attribute"}  # a random encoder may be unsure...
    # ...but the rule router decides when it is, so the known phrasings still route right
    assert router("请匹配到与 男士黑色衬衫 最相关的图片。").kind == "retrieve"
    with pytest.raises(ModelNotFound, match="TUWEN_ROUTER_MODEL"):
        router_from(Settings(router_model=str(tmp_path / "missing")))


def test_query_encoder_is_int8_on_cpu_unless_turned_off(tiny_clip_dir):
    from ingest.settings import Settings
    from service.factory import encoder_for

    def runtime(**kw) -> dict[str, str]:
        settings = Settings(clip_model=str(tiny_clip_dir), device="cpu", dtype="float32", **kw)
        return encoder_for(settings, store=None).runtime  # type: ignore[arg-type] - model given

    # queries: int8 in ONNX Runtime by default; the image tower is int8 only when it is loaded
    # for ingest (lazily), and the eager query encoder quantises both
    assert runtime() == {"text": "onnx-int8", "vision": "onnx-int8"}
    assert runtime(int8_runtime="torch") == {"text": "torch-int8", "vision": "torch-int8"}
    assert runtime(text_int8=False)["text"] == "torch-float32"
    assert runtime(text_int8=False, image_int8=False) == {
        "text": "torch-float32",
        "vision": "torch-float32",
    }
