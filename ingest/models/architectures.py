"""CLIP-family architectures as data, and a character vocabulary built from captions.

Used to build a model from scratch (``tuwen finetune --from-scratch``), the random-weight
real-size model of the speed benchmarks, and the tiny models of the tests. Everything is
saved with ``save_pretrained`` so it loads through the same path as a downloaded model.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

#: name → (text tower, vision tower, projection dim). ``base`` is the shape of
#: OFA-Sys/chinese-clip-vit-base-patch16.
SIZES: dict[str, tuple[dict, dict, int]] = {
    "tiny": (
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        ),
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            image_size=32,
            patch_size=8,
        ),
        16,
    ),
    # A few seconds per epoch on 300 photos with 2 CPU cores: tests and quick trials.
    "mini": (
        dict(
            hidden_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=512,
            max_position_embeddings=64,
        ),
        dict(
            hidden_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=512,
            image_size=48,
            patch_size=8,
        ),
        128,
    ),
    # The --from-scratch default: about 150 photo-caption pairs/s on 2 CPU cores in bf16, so
    # a 15-minute run sees the 2.7k training pairs of a small catalog ~45 times.
    "small": (
        dict(
            hidden_size=192,
            num_hidden_layers=2,
            num_attention_heads=3,
            intermediate_size=768,
            max_position_embeddings=64,
        ),
        dict(
            hidden_size=192,
            num_hidden_layers=4,
            num_attention_heads=3,
            intermediate_size=768,
            image_size=64,
            patch_size=8,
        ),
        256,
    ),
    # Deeper and at 96 px: for longer runs or a GPU.
    "medium": (
        dict(
            hidden_size=256,
            num_hidden_layers=4,
            num_attention_heads=4,
            intermediate_size=1024,
            max_position_embeddings=64,
        ),
        dict(
            hidden_size=256,
            num_hidden_layers=6,
            num_attention_heads=4,
            intermediate_size=1024,
            image_size=96,
            patch_size=12,
        ),
        256,
    ),
    "base": (
        dict(
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            max_position_embeddings=512,
            type_vocab_size=2,
        ),
        dict(
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            image_size=224,
            patch_size=16,
        ),
        512,
    ),
}

_LATIN = re.compile(r"[A-Za-z]+")


def caption_vocab(texts: Iterable[str], min_count: int = 1, size: int | None = None) -> list[str]:
    """A BERT-style vocabulary: CJK characters, lower-cased Latin word pieces, digits, punctuation.

    Latin words become whole-word entries plus ``##``-prefixed suffix pieces, so brand names the
    vocabulary has not seen still tokenize into pieces instead of ``[UNK]``.

    Args:
        texts: Captions (and any other text the tokenizer should know).
        min_count: Drop entries seen fewer times.
        size: Pad the vocabulary to this many entries with further CJK characters (used to
            reproduce a real model's embedding table size).
    """
    counts: Counter[str] = Counter()
    for text in texts:
        text = unicodedata.normalize("NFKC", text or "")
        for word in _LATIN.findall(text):
            w = word.lower()
            counts[w] += 1
            for i in range(1, len(w)):
                counts["##" + w[i:]] += 1 if len(w) - i <= 4 else 0
        for ch in _LATIN.sub(" ", text):
            if not ch.isspace():
                counts[ch] += 1
    base = [c for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + [
        "##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"
    ]
    learned = [
        t for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count
    ]
    vocab, seen = [], set()
    for tok in SPECIAL_TOKENS + base + learned:
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)
    cp = 0x4E00
    while size is not None and len(vocab) < size:
        ch = chr(cp)
        cp += 1
        if ch not in seen:
            seen.add(ch)
            vocab.append(ch)
    return vocab


def build_chinese_clip(
    out_dir: str | Path,
    vocab: list[str],
    size: str = "tiny",
    *,
    seed: int = 0,
    image_size: int | None = None,
    logit_scale_init: float | None = None,
):
    """Create a random-weight Chinese-CLIP of a named size and save model + processor to ``out_dir``.

    Returns:
        The model (already saved).
    """
    import torch
    from transformers import (
        BertTokenizerFast,
        ChineseCLIPConfig,
        ChineseCLIPImageProcessor,
        ChineseCLIPModel,
        ChineseCLIPProcessor,
    )

    if size not in SIZES:
        raise ValueError(f"unknown architecture size {size!r}; choose one of {', '.join(SIZES)}")
    text, vision, proj = SIZES[size]
    text = dict(text, vocab_size=len(vocab))
    vision = dict(vision)
    if image_size:
        vision["image_size"] = image_size
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # The vocabulary goes in as a dict: transformers 5's BertTokenizerFast ignores a
    # ``vocab_file=`` argument outside ``from_pretrained`` and silently keeps only the five
    # special tokens, so every caption would tokenize to [CLS] [UNK]... [SEP] and a model
    # trained on it could never read its captions.
    tokenizer = BertTokenizerFast(
        vocab={tok: i for i, tok in enumerate(vocab)},
        do_lower_case=True,
        tokenize_chinese_chars=True,
        model_max_length=52,
    )
    if len(tokenizer) != len(vocab):
        raise RuntimeError(
            f"tokenizer has {len(tokenizer)} entries, the vocabulary {len(vocab)}; "
            "check that this transformers version accepts BertTokenizerFast(vocab=dict)"
        )
    cfg_kw = {}
    if logit_scale_init is not None:
        cfg_kw["logit_scale_init_value"] = logit_scale_init
    config = ChineseCLIPConfig(
        text_config=text, vision_config=vision, projection_dim=proj, **cfg_kw
    )
    torch.manual_seed(seed)
    model = ChineseCLIPModel(config)
    px = vision["image_size"]
    image_processor = ChineseCLIPImageProcessor(
        size={"height": px, "width": px},
        crop_size={"height": px, "width": px},
        do_center_crop=False,
    )
    processor = ChineseCLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return model
