"""Fixtures for the answering side: a tiny GLM chat model and a small candidate catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.hits import Hit

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<unk>", "<eos>", "<|system|>", "<|user|>", "<|assistant|>"]
# Mostly CJK characters, so the streamer flushes often and the output streams in pieces.
VOCAB_CHARS = (
    "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下"
    "而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女"
    "但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间斯知世什两次使身者被高已亲其"
    "进此话常与活正感见明问力理点文几定本公特做外孩相西果走将月十实向声车全信重三机工物气每并"
    "别真打太新比才便夫再书部水像眼等体却加电主界门利海受听表德少克代员许先口由死安写性马光白"
    "黑红蓝色衬衫鞋裤款风格休闲正装运动男士商品图片颜色描述匹配相关"
    " ：:，。？！[]「」（）.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
)


@pytest.fixture(scope="session")
def tiny_glm_dir(tmp_path_factory) -> Path:
    """A 2-layer GlmForCausalLM and a char-level tokenizer with a chat template, saved."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GlmConfig, GlmForCausalLM, PreTrainedTokenizerFast

    chars = sorted(set(VOCAB_CHARS))
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + chars)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    backend.add_special_tokens(SPECIAL_TOKENS)
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<eos>",
        chat_template=CHAT_TEMPLATE,
    )
    config = GlmConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=1024,
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["<eos>"],
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = GlmForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-glm")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture()
def hits() -> list[Hit]:
    """Four retrieved products; the two best agree on a black men's Levis brief."""
    return [
        Hit("1", "101.jpg", "Levis 男士黑色休闲三角内裤", 0.91),
        Hit("2", "102.jpg", "Levis三角内裤 男士款 黑色 休闲风格", 0.88),
        Hit("3", "103.jpg", "女士连衣裙 Vero Moda 红色 派对", 0.52),
        Hit("4", "sub/104.jpg", "Puma 女士红色运动T恤", 0.40),
    ]
