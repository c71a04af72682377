"""Generation: time to first token for a 600-token prompt, and tokens/s, CPU, transformers backend.

    python bench/generation.py [--quick] [--dtypes bfloat16,float32]

The model is a random-weight GLM of ``THUDM/glm-edge-1.5b-chat``'s shape (``bench/make_glm.py``,
made once under ``models/glm-random``), loaded and streamed through
:class:`~service.generation.transformers_chat.TransformersGenerator` exactly as the service does
(greedy, chat template, ``TextIteratorStreamer``). The prompt is a real describe prompt
(``service/answering/prompt.py``) with catalog captions as candidates, grown to 600 tokens. Each dtype runs in its own process.
TTFT = from calling ``stream()`` to the first text piece; tokens/s = the rest of the tokens
over the time after the first piece. The prefill forward pass alone is also timed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

PROMPT_TOKENS = 600
#: torch ops that run the weight matmuls (their self time is the GEMM kernels').
MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear"}


def prompt_messages(tokenizer, target: int = PROMPT_TOKENS) -> tuple[list[dict], int]:
    """A describe prompt whose chat-template rendering is about ``target`` tokens."""
    from ingest.hits import Hit
    from service.answering.prompt import build_prompt
    from service.routing import route

    caps = common.real_captions()
    question = "请对给定的图片进行描述。"

    def render(hits: list[Hit]) -> tuple[list[dict], int]:
        p = build_prompt(question, route(question), hits, token_budget=100_000)
        text = tokenizer.apply_chat_template(p.messages, add_generation_prompt=True, tokenize=False)
        return p.messages, len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def hit(i: int, caption: str) -> Hit:
        return Hit(str(i), f"{10000 + i}.jpg", caption, 0.9 - i * 1e-3)

    hits = [hit(0, caps[0])]
    messages, n = render(hits)
    while True:  # whole candidates while they fit
        more = hits + [hit(len(hits), caps[len(hits) % len(caps)])]
        m2, n2 = render(more)
        if n2 > target:
            break
        hits, messages, n = more, m2, n2
    if n < target:  # then lengthen the last caption (one character = one token here)
        tail = "，".join(caps[len(hits) : len(hits) + 8])
        last = hits[-1]
        hits[-1] = hit(
            len(hits) - 1, f"{last.caption} {tail}"[: len(last.caption or "") + target - n]
        )
        messages, n = render(hits)
    return messages, n


def run_one(dtype: str, max_new: int) -> dict:
    """In this process: load, warm up, one measured stream, one prefill-only forward."""
    import torch

    from service.generation.transformers_chat import TransformersGenerator

    t0 = time.perf_counter()
    gen = TransformersGenerator.from_pretrained(common.GLM_DIR, device="cpu", dtype=dtype)
    load_s = time.perf_counter() - t0
    tok = gen.tokenizer
    messages, n_prompt = prompt_messages(tok)
    list(gen.stream([{"role": "user", "content": "你好"}], max_new_tokens=2))  # warm-up
    t0 = time.perf_counter()
    first = None
    pieces = []
    for piece in gen.stream(messages, max_new_tokens=max_new):
        if first is None:
            first = time.perf_counter()
        pieces.append(piece)
    end = time.perf_counter()
    text = "".join(pieces)
    n_out = len(tok(text, add_special_tokens=False)["input_ids"])
    # The prefill alone: one forward over the prompt, logits for the last position only.
    ids = tok.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        t1 = time.perf_counter()
        gen.model(**ids, logits_to_keep=1, use_cache=True)
        prefill_s = time.perf_counter() - t1
        # Where the prefill's time goes: the same forward under torch.profiler, by op.
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            gen.model(**ids, logits_to_keep=1, use_cache=True)
    ops = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ops) or 1
    matmul = sum(e.self_cpu_time_total for e in ops if e.key in MATMUL_OPS)
    attention = sum(e.self_cpu_time_total for e in ops if "attention" in e.key)
    ttft = (first or end) - t0
    return {
        "dtype": str(gen.model.dtype).replace("torch.", ""),
        "load_s": load_s,
        "prompt_tokens": n_prompt,
        "ttft_s": ttft,
        "prefill_s": prefill_s,
        "new_tokens": n_out,
        "tokens_per_s": (n_out - 1) / (end - first) if first and n_out > 1 else float("nan"),
        "threads": torch.get_num_threads(),
        "prefill_matmul_share": matmul / total,
        "prefill_attention_share": attention / total,
    }


def non_embedding_params() -> int:
    """Weights every prompt token multiplies through: glm-edge-1.5b-chat's attention and MLP
    projections over all layers (embeddings and the one-row output head aside)."""
    from make_glm import GLM_EDGE_15B as c

    h, kv = c["hidden_size"], c["num_key_value_heads"] * c["head_dim"]
    q = c["num_attention_heads"] * c["head_dim"]
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * c["intermediate_size"]
    return per_layer * c["num_hidden_layers"]


def gemm_rates(tokens: int = PROMPT_TOKENS, reps: int = 5) -> dict:
    """Op/s of the prefill's biggest matmul shape (tokens × hidden → MLP width) in bf16, torch
    dynamic int8 and ONNX Runtime int8: how fast any prefill can go on this CPU."""
    import copy
    import tempfile
    import warnings

    import numpy as np
    import onnxruntime as ort
    import torch
    from make_glm import GLM_EDGE_15B as c
    from onnxruntime.quantization import QuantType, quantize_dynamic

    k, n = c["hidden_size"], c["intermediate_size"]
    ops = 2 * tokens * k * n
    x = torch.randn(tokens, k)
    lin = torch.nn.Linear(k, n, bias=False).eval()

    def rate(fn) -> float:
        fn()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return ops / sorted(ts)[len(ts) // 2]

    out = {}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lb, xb = copy.deepcopy(lin).bfloat16(), x.bfloat16()
        out["bf16"] = rate(lambda: lb(xb))
        q8 = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear})
        out["torch_int8"] = rate(lambda: q8(x))
        with tempfile.TemporaryDirectory() as tmp:
            torch.onnx.export(lin, (x,), f"{tmp}/l.onnx", input_names=["x"], dynamo=False)
            quantize_dynamic(f"{tmp}/l.onnx", f"{tmp}/l8.onnx", weight_type=QuantType.QInt8)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = torch.get_num_threads()
            sess = ort.InferenceSession(f"{tmp}/l8.onnx", opts)
            xn = x.numpy().astype(np.float32)
            out["onnx_int8"] = rate(lambda: sess.run(None, {"x": xn}))
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 new tokens instead of 64")
    ap.add_argument("--dtypes", default="bfloat16,float32", help="dtypes to run, best first")
    ap.add_argument("--max-new-tokens", type=int)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    common.threads_arg(ap)
    args = ap.parse_args(argv)
    common.apply_threads(args.threads)
    max_new = args.max_new_tokens or (16 if args.quick else 64)
    if args.child == "gemm":
        print(json.dumps(gemm_rates()), flush=True)
        return {}
    if args.child:
        print(json.dumps(run_one(args.child, max_new)), flush=True)
        return {}
    common.require_data()
    common.ensure_glm()
    where = common.machine()
    runs = {}
    for dtype in args.dtypes.split(","):
        cmd = [common.PYTHON, __file__, "--child", dtype, "--max-new-tokens", str(max_new)]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=common.REPO)
        if out.returncode != 0:
            sys.stderr.write(out.stderr[-3000:])
            raise SystemExit(f"generation with {dtype} failed")
        runs[dtype] = json.loads(out.stdout.strip().splitlines()[-1])
        common.log(f"{dtype}: {runs[dtype]}")
    from make_glm import GLM_EDGE_15B

    cmd = [common.PYTHON, __file__, "--child", "gemm"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=common.REPO)
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-3000:])
        raise SystemExit("timing the prefill matmul failed")
    gemm = json.loads(out.stdout.strip().splitlines()[-1])
    best = min(runs.values(), key=lambda r: r["ttft_s"])
    # The prefill multiplies every prompt token through every non-embedding weight: at the
    # best matmul rate measured here that alone takes `floor` seconds.
    tokens = best["prompt_tokens"]
    prefill_ops = 2 * tokens * non_embedding_params()
    fastest = max(gemm, key=gemm.get)
    # causal attention: QKᵀ and AV over the lower triangle, every layer, at the bf16 rate
    c = GLM_EDGE_15B
    q_width = c["num_attention_heads"] * c["head_dim"]
    attn_ops = c["num_hidden_layers"] * 2 * 2 * (tokens * tokens / 2) * q_width
    floor = prefill_ops / gemm[fastest] + attn_ops / gemm["bf16"]
    floor_note = (
        f" Prefill floor: {prefill_ops / 1e12:.2f} T ops ({best['prompt_tokens']} "
        f"tokens × {non_embedding_params() / 1e9:.2f} G non-embedding weights); the "
        f"{best['prompt_tokens']}×{GLM_EDGE_15B['hidden_size']}→"
        f"{GLM_EDGE_15B['intermediate_size']} matmul runs at "
        + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in gemm.items())
        + f" G op/s here; with causal attention ({attn_ops / 1e9:.0f} G ops at the bf16 rate) a "
        f"prefill with every weight matmul at {fastest}'s rate would still take {floor:.2f} s; "
        f"{best['dtype']}'s prefill reaches "
        f"{prefill_ops / min(best['prefill_s'], best['ttft_s']) / 1e9:.0f} G op/s."
    )
    fp32 = runs.get("float32")
    notes = "; ".join(
        f"{r['dtype']}: TTFT {r['ttft_s']:.2f} s (prefill alone {r['prefill_s']:.2f} s, of it "
        f"{r['prefill_matmul_share']:.0%} in matmuls and {r['prefill_attention_share']:.0%} in "
        f"attention by torch.profiler self time), "
        f"{r['tokens_per_s']:.2f} tok/s, load {r['load_s']:.1f} s"
        for r in runs.values()
    )
    return common.emit(
        "generation",
        {"ttft_s": best["ttft_s"], "tokens_per_s": best["tokens_per_s"]},
        "s, tokens/s",
        goal="TTFT ≤ 2 s; report tokens/s",
        met=best["ttft_s"] <= 2.0,
        baseline=(
            {"ttft_s": fp32["ttft_s"], "tokens_per_s": fp32["tokens_per_s"]} if fp32 else None
        ),
        ratio=(fp32["ttft_s"] / best["ttft_s"]) if fp32 else None,
        conditions=(
            f"{'QUICK ' if args.quick else ''}random GLM of glm-edge-1.5b-chat shape "
            f"({best['dtype']} best, what TUWEN_DTYPE=auto picks on a bf16-capable CPU; baseline "
            f"float32), TransformersGenerator.stream, greedy, {best['prompt_tokens']}-token "
            f"describe prompt (char-level tokenizer), {best['new_tokens']} new tokens, "
            f"{best['threads']} torch threads, after a 2-token warm-up; ratio = float32 TTFT / "
            f"best TTFT. {notes}.{floor_note} {where}"
        ),
    )


if __name__ == "__main__":
    main()
