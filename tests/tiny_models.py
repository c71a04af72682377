"""Tiny real-class models, built from scratch and saved the way a downloaded model is.

One builder per kind, used by every fixture and test that needs one: a Chinese-CLIP, a
CLIP-family model with a centre crop, a GLM chat model, a sentence-transformers encoder, and
the vision-language models: a LLaVA and a Qwen2-VL chat model, a BLIP captioner.
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


#: The vision towers of the tiny LLaVA and BLIP: 1 layer, 32-pixel images, 8-pixel patches.
_TINY_VISION = dict(
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    image_size=32,
    patch_size=8,
)


def vlm_chat_template(image_markup: str) -> str:
    """A Qwen-style multimodal chat template: string or typed-part contents, with
    ``{"type": "image"}`` parts rendered as ``image_markup`` (LLaVA and Qwen2-VL alike)."""
    return (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
        "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
        "{% for c in m['content'] %}{% if c['type'] == 'image' %}" + image_markup + ""
        "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


def _vlm_tokenizer(extra_specials: Sequence[str], chat_template: str) -> tuple[Any, dict]:
    specials = ["<pad>", "<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", *extra_specials]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(set(GLM_CHARS)))}
    tokenizer = char_chat_tokenizer(
        vocab, specials, unk="<unk>", pad="<pad>", eos="<|im_end|>", chat_template=chat_template
    )
    return tokenizer, vocab


def _tiny_text_config(
    vocab: dict[str, int], pad: str = "<pad>", eos: str = "<|im_end|>", **extra: Any
) -> dict[str, Any]:
    """A 2-layer, 32-wide text model's configuration over ``vocab`` (``extra`` overrides)."""
    base = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    ids = dict(pad_token_id=vocab[pad], eos_token_id=vocab[eos], bos_token_id=None)
    limits = dict(vocab_size=len(vocab), num_key_value_heads=2, max_position_embeddings=1024)
    return {**base, **ids, **limits, **extra}


def _save_seeded(model_class: Any, config: Any, processor: Any, out: Path, seed: int) -> Path:
    import torch

    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    model_class(config).save_pretrained(out)
    processor.save_pretrained(out)
    return out


def tiny_llava(out: Path, *, seed: int = 0) -> Path:
    """A LLaVA (1-layer CLIP vision tower, 2-layer Qwen2 text model) with its processor and
    chat template, saved to ``out``: an image-text-to-text chat model that needs no
    torchvision. 32-pixel images, 16 image tokens."""
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    template = vlm_chat_template("<image>")
    tokenizer, vocab = _vlm_tokenizer(["<image>"], template)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        image_token="<image>",
        chat_template=template,
    )
    config = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", **_TINY_VISION),
        text_config=dict(model_type="qwen2", **_tiny_text_config(vocab)),
        image_token_id=vocab["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    return _save_seeded(LlavaForConditionalGeneration, config, processor, out, seed)


def tiny_qwen2_vl_parts(*, seed: int = 0) -> tuple[Any, Any]:
    """A 2-layer Qwen2-VL (2-block vision tower, 4-pixel patches, at most 16 image tokens)
    and its processor with a chat template, in memory.

    transformers' Qwen2-VL processor holds a video processor that needs torchvision. Without
    torchvision the processor is assembled around it (no video part): its image and text
    handling, which answers use, is the library's own.
    """
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    template = vlm_chat_template("<|vision_start|><|image_pad|><|vision_end|>")
    specials = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tokenizer, vocab = _vlm_tokenizer(specials, template)
    sizes = dict(patch_size=4, temporal_patch_size=2, merge_size=2)
    images = Qwen2VLImageProcessorPil(min_pixels=8 * 8, max_pixels=32 * 32, **sizes)
    try:
        from transformers import Qwen2VLVideoProcessor

        videos = Qwen2VLVideoProcessor(**sizes)
        processor = Qwen2VLProcessor(images, tokenizer, videos, chat_template=template)
    except ImportError:  # no torchvision
        processor = object.__new__(Qwen2VLProcessor)
        vars(processor).update(
            image_processor=images,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=template,
            image_token="<|image_pad|>",
            video_token="<|video_pad|>",
            image_token_id=vocab["<|image_pad|>"],
            video_token_id=vocab["<|video_pad|>"],
        )
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]}
    v = dict(patch_size=4, temporal_patch_size=2, spatial_merge_size=2)
    config = Qwen2VLConfig(
        text_config=_tiny_text_config(vocab, rope_parameters=rope),
        vision_config=dict(depth=2, embed_dim=16, hidden_size=32, num_heads=2, mlp_ratio=2, **v),
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    return Qwen2VLForConditionalGeneration(config).eval(), processor


def tiny_blip(out: Path, *, seed: int = 0) -> Path:
    """A BLIP captioning model (``BlipForConditionalGeneration``: 1-layer vision tower, 2-layer
    text decoder over the characters of :data:`GLM_CHARS`) with its processor, saved to
    ``out``. 32-pixel images."""
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    vocab = _BERT_SPECIALS + sorted(set(GLM_CHARS) - {" ", "\n"})
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)})
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    ids = {t: i for i, t in enumerate(vocab)}
    config = BlipConfig(
        text_config=_tiny_text_config(
            ids,
            "[PAD]",
            "[SEP]",
            bos_token_id=ids["[CLS]"],
            sep_token_id=ids["[SEP]"],
            encoder_hidden_size=16,
            max_position_embeddings=64,
        ),
        vision_config=_TINY_VISION,
        projection_dim=16,
    )
    return _save_seeded(BlipForConditionalGeneration, config, processor, out, seed)
