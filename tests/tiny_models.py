"""Tiny real-class models, built from scratch and saved the way a downloaded model is.

One builder per kind, used by every fixture and test that needs one: a Chinese-CLIP, a
CLIP-family model with a centre crop, a GLM chat model and a sentence-transformers encoder.
Each loads through the same production path (``from_pretrained`` on a directory).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: A GLM-style chat template: ``<|role|>\\ncontent`` per message, then the assistant's turn.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
GLM_SPECIAL_TOKENS = ["<pad>", "<unk>", "<eos>", "<|system|>", "<|user|>", "<|assistant|>"]
#: Mostly CJK characters, so the streamer flushes often and the output streams in pieces.
GLM_CHARS = (
    "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下"
    "而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女"
    "但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间斯知世什两次使身者被高已亲其"
    "进此话常与活正感见明问力理点文几定本公特做外孩相西果走将月十实向声车全信重三机工物气每并"
    "别真打太新比才便夫再书部水像眼等体却加电主界门利海受听表德少克代员许先口由死安写性马光白"
    "黑红蓝色衬衫鞋裤款风格休闲正装运动男士商品图片颜色描述匹配相关"
    " ：:，。？！[]「」（）.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
)
_BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def char_chat_tokenizer(
    vocab: dict[str, int],
    special_tokens: Sequence[str],
    *,
    unk: str,
    pad: str,
    eos: str,
    chat_template: str,
    model_max_length: int | None = None,
) -> Any:
    """A character-level ``PreTrainedTokenizerFast`` (one id per character) with a chat template.

    Args:
        vocab: Token → id, the special tokens included.
        special_tokens: Tokens never split into characters.
        unk: Unknown-character token.
        pad: Padding token.
        eos: End-of-sequence token.
        chat_template: Jinja chat template.
        model_max_length: Longest input, when the model has a limit.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    backend.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    backend.add_special_tokens(list(special_tokens))
    backend.decoder = decoders.Fuse()
    extra = {} if model_max_length is None else {"model_max_length": model_max_length}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=unk,
        pad_token=pad,
        eos_token=eos,
        chat_template=chat_template,
        **extra,
    )


def save_glm(
    out: Path, config: dict[str, Any], tokenizer: Any, *, seed: int = 0, dtype: Any = None
) -> Any:
    """Initialise a random-weight ``GlmForCausalLM`` and save it with its tokenizer to ``out``.

    Args:
        out: Directory to write.
        config: ``GlmConfig`` arguments.
        tokenizer: The tokenizer to save beside the weights.
        seed: Weight initialisation seed.
        dtype: Initialise (and save) in this torch dtype; default float32.

    Returns:
        The model.
    """
    import torch
    from transformers import GlmConfig, GlmForCausalLM

    torch.manual_seed(seed)
    default = torch.get_default_dtype()
    if dtype is not None:
        torch.set_default_dtype(dtype)  # initialise in the target dtype: half the memory and time
    try:
        model = GlmForCausalLM(GlmConfig(**config))
    finally:
        torch.set_default_dtype(default)
    if dtype is not None:
        model.config.dtype = dtype
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return model


def tiny_glm(out: Path) -> Path:
    """A 2-layer GLM chat model with a character-level tokenizer, saved to ``out``."""
    chars = sorted(set(GLM_CHARS))
    vocab = {tok: i for i, tok in enumerate(GLM_SPECIAL_TOKENS + chars)}
    tokenizer = char_chat_tokenizer(
        vocab,
        GLM_SPECIAL_TOKENS,
        unk="<unk>",
        pad="<pad>",
        eos="<eos>",
        chat_template=CHAT_TEMPLATE,
    )
    config = dict(
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
    save_glm(out, config, tokenizer)
    return out


def tiny_chinese_clip(
    out: Path, captions: Iterable[str], *, seed: int = 0, size: str = "tiny"
) -> Path:
    """A small Chinese-CLIP whose vocabulary holds the captions' characters, saved to ``out``.

    Args:
        out: Directory to write.
        captions: Texts whose characters and word pieces make the vocabulary.
        seed: Weight initialisation seed.
        size: ``tiny`` (2 layers, 16-d) or another size of ``ingest.models.architectures.SIZES``.
    """
    from ingest.models.architectures import build_chinese_clip, caption_vocab

    build_chinese_clip(out, caption_vocab(captions), size, seed=seed)
    return out


def tiny_clip(out: Path, chars: str = "男士黑色衬衫女红") -> Path:
    """A 1-layer CLIP-family model (``CLIPModel``) whose processor resizes then centre-crops."""
    from transformers import BertTokenizerFast, CLIPConfig, CLIPImageProcessor, CLIPModel

    vocab = _BERT_SPECIALS + sorted(set(chars))
    BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(out)
    cfg = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=32,
        ),
        vision_config=dict(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=8,
    )
    CLIPModel(cfg).save_pretrained(out)
    CLIPImageProcessor(
        size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(out)
    return out


def tiny_sentence_transformer(out: Path, chars: str, *, one_hot: bool = False) -> Path:
    """A 1-layer BERT sentence encoder (mean pooling) over ``chars``, saved with ``save``.

    With ``one_hot``, the BERT has no layers and one-hot character embeddings (hidden size =
    vocabulary size): a sentence embeds as its character histogram, so phrasings that share
    characters are near each other.
    """
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = _BERT_SPECIALS + sorted(set(chars))
    bert = out / "bert"
    BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(bert)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=len(vocab) if one_hot else 16,
        num_hidden_layers=0 if one_hot else 1,
        num_attention_heads=1 if one_hot else 2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    model = BertModel(cfg)
    if one_hot:
        import torch

        with torch.no_grad():
            model.embeddings.word_embeddings.weight.copy_(torch.eye(len(vocab)))
            model.embeddings.position_embeddings.weight.zero_()
            model.embeddings.token_type_embeddings.weight.zero_()
    model.save_pretrained(bert)
    word = models.Transformer(str(bert))
    SentenceTransformer(modules=[word, models.Pooling(word.get_embedding_dimension())]).save(
        str(out / "st")
    )
    return out / "st"
