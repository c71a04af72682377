"""Save a random-weight GLM of ``THUDM/glm-edge-1.5b-chat``'s shape, with a chat tokenizer.

    python bench/make_glm.py models/glm-random            # bf16 weights, ~2.9 GB
    python bench/make_glm.py models/glm-random --dtype float32

The architecture is the published config of glm-edge-1.5b-chat (``GlmForCausalLM``: hidden
2048, 28 layers, 16 query / 4 key-value heads of 128, MLP 6144, vocabulary 59,264, tied
embeddings, full rotary). The tokenizer is character-level (a ``tokenizers`` WordLevel model
in a ``PreTrainedTokenizerFast``) over the same 59,264 ids, with GLM's special tokens at their
real ids and a GLM-style chat template, so prompts of N characters are about N tokens. Speed
depends on the shape, not on the weights; the text it generates is noise.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: THUDM/glm-edge-1.5b-chat config.json (the values that shape compute and memory).
GLM_EDGE_15B = dict(
    vocab_size=59264,
    hidden_size=2048,
    intermediate_size=6144,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=4,
    head_dim=128,
    hidden_act="silu",
    attention_bias=False,
    max_position_embeddings=8192,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
    pad_token_id=59246,
    eos_token_id=[59246, 59253, 59255],
    bos_token_id=None,
)
ROPE = {"rope_theta": 10000.0, "rope_type": "default", "partial_rotary_factor": 1.0}
#: Special tokens of the GLM-4 tokenizer family at the ids glm-edge uses for its stop tokens.
SPECIALS = {
    "<|endoftext|>": 59246,
    "[MASK]": 59247,
    "[gMASK]": 59248,
    "[sMASK]": 59249,
    "<sop>": 59250,
    "<eop>": 59251,
    "<|system|>": 59252,
    "<|user|>": 59253,
    "<|assistant|>": 59254,
    "<|observation|>": 59255,
}
CHAT_TEMPLATE = (
    "[gMASK]<sop>{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def char_vocab(texts: list[str], size: int) -> dict[str, int]:
    """Characters of ``texts`` and the prompts, ASCII, then further CJK up to ``size`` ids,
    with the special tokens at their fixed ids."""
    seen: list[str] = ["<unk>"]
    chars = set()
    for t in texts:
        chars.update(t)
    for p in (REPO / "prompts").glob("*"):
        if p.is_file():
            chars.update(p.read_text(encoding="utf-8", errors="ignore"))
    chars.update(chr(c) for c in range(32, 127))
    chars.update("\n\t，。？！：；、“”‘’（）《》【】")
    seen += sorted(chars)
    taken = set(seen)
    n_plain = size - len(SPECIALS)
    # CJK Unified Ideographs, Extension A, then Extension B: enough characters for 59k ids.
    filler = (
        chr(cp)
        for block in ((0x4E00, 0xA000), (0x3400, 0x4DC0), (0x20000, 0x2A6E0))
        for cp in range(*block)
    )
    while len(seen) < n_plain:
        ch = next(filler)
        if ch not in taken:
            taken.add(ch)
            seen.append(ch)
    seen = seen[:n_plain]
    vocab: dict[str, int] = {}
    ids = (i for i in range(size) if i not in set(SPECIALS.values()))
    for tok in seen:
        vocab[tok] = next(ids)
    vocab.update(SPECIALS)
    return vocab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--captions",
        type=Path,
        default=Path(__file__).resolve().parents[2]
        / "shared/data/catalog-dev/train_annotation.csv",
        help="caption CSV whose characters the vocabulary starts with",
    )
    args = ap.parse_args()
    import torch

    sys.path.insert(0, str(REPO))  # `python bench/make_glm.py` from anywhere
    from tests.tiny_models import char_chat_tokenizer, save_glm

    texts: list[str] = []
    if args.captions.exists():
        with args.captions.open(encoding="utf-8-sig", newline="") as fh:
            texts = [row[-1] for row in csv.reader(fh)]
    vocab = char_vocab(texts, GLM_EDGE_15B["vocab_size"])
    tokenizer = char_chat_tokenizer(
        vocab,
        list(SPECIALS),
        unk="<unk>",
        pad="<|endoftext|>",
        eos="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=8192,
    )
    config = {**GLM_EDGE_15B, "rope_parameters": ROPE}
    model = save_glm(args.out, config, tokenizer, seed=args.seed, dtype=getattr(torch, args.dtype))
    n = sum(p.numel() for p in model.parameters())
    print(
        f"saved random glm-edge-1.5b-chat-shaped GLM ({n / 1e9:.2f}B params, {args.dtype}) to {args.out}"
    )


if __name__ == "__main__":
    main()
