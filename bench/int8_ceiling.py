"""The int8 ceiling of a CLIP image tower: its largest matmul timed at a runtime's int8 rate.

    python bench/int8_ceiling.py [--batch 32]

The tower's work is almost all matmuls. Their int8 operations per photo (2 per multiply-add:
patch embedding, per layer the QKV, output, MLP fc1/fc2 projections and the two attention
products, and the final projection) divided into the rate at which a runtime runs the tower's
largest matmul (MLP fc1, ``[tokens * batch, hidden] x [hidden, intermediate]``) in int8 gives
the images/s that runtime could reach if every matmul ran at that rate and nothing else cost
anything. The rate is that of the fastest of 15 calls (on a shared machine, what the cores
can reach). Each runtime is timed as the tower runs in it:

- ``onnx``: ONNX Runtime's dynamic int8 (``quantize_dynamic``: a per-call activation
  quantisation, then ``MatMulInteger``), as :mod:`ingest.models.onnx_int8` runs the tower;
- ``openvino``: OpenVINO with NNCF's static int8 (fixed activation scales), as
  :mod:`ingest.models.openvino_int8` runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def tower_shape(vision_config, projection_dim: int) -> dict:
    """The matmul dimensions of a ViT image tower from its config."""
    c = vision_config
    patches = (c.image_size // c.patch_size) ** 2
    return {
        "tokens": patches + 1,
        "patches": patches,
        "hidden": c.hidden_size,
        "intermediate": c.intermediate_size,
        "layers": c.num_hidden_layers,
        "patch_in": 3 * c.patch_size * c.patch_size,
        "projection": projection_dim,
    }


def ops_per_photo(shape: dict) -> float:
    """int8 operations (2 per multiply-add) of the tower's matmuls for one photo."""
    t, h, i = shape["tokens"], shape["hidden"], shape["intermediate"]
    per_layer = t * h * (3 * h + h + 2 * i) + 2 * t * t * h  # projections + QK^T and AV
    macs = shape["patches"] * shape["patch_in"] * h + shape["layers"] * per_layer
    return 2.0 * (macs + h * shape["projection"])


def _matmul_onnx(path: Path, k: int, n: int) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((k, n)).astype(np.float32) * 0.02
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "fc1",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _best_s(fn, repeats: int) -> float:
    """The fastest of ``repeats`` calls: on a shared machine, the rate the cores can reach."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_rate(runtime: str, m: int, k: int, n: int, threads: int, repeats: int = 15) -> float:
    """int8 operations per second of ``[m, k] x [k, n]`` (float in and out) in ``runtime``."""
    x = np.random.default_rng(1).standard_normal((m, k)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="tuwen-ceiling-") as tmp:
        fp32 = Path(tmp) / "fc1.onnx"
        _matmul_onnx(fp32, k, n)
        if runtime == "onnx":
            import onnxruntime as ort

            from ingest.models.onnx_int8 import quantize_int8

            int8 = Path(tmp) / "fc1-int8.onnx"
            quantize_int8(fp32, int8)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            sess = ort.InferenceSession(str(int8), opts, providers=["CPUExecutionProvider"])
            secs = _best_s(lambda: sess.run(None, {"x": x}), repeats)
        elif runtime == "openvino":
            import contextlib

            import nncf
            import openvino as ov

            core = ov.Core()
            with contextlib.redirect_stdout(sys.stderr):
                q = nncf.quantize(
                    core.read_model(str(fp32)), nncf.Dataset([x[:256]] * 4), subset_size=4
                )
            q.reshape({0: [m, k]})
            compiled = core.compile_model(
                q, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
            )
            request = compiled.create_infer_request()
            secs = _best_s(lambda: request.infer({0: x}), repeats)
        else:
            raise ValueError(f"unknown runtime {runtime!r}")
    return 2.0 * m * k * n / secs


def ceiling(runtime: str, shape: dict, batch: int, threads: int) -> dict:
    """The runtime's fc1 int8 rate (G op/s) and the images/s it bounds the tower to."""
    rate = matmul_rate(
        runtime, shape["tokens"] * batch, shape["hidden"], shape["intermediate"], threads
    )
    return {"gops": rate / 1e9, "images_per_s": rate / ops_per_photo(shape)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    common.threads_arg(ap)
    args = ap.parse_args(argv)
    common.apply_threads(args.threads)
    common.ensure_clip()
    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(common.CLIP_DIR)
    shape = tower_shape(config.vision_config, config.projection_dim)
    out = {"gop_per_photo": ops_per_photo(shape) / 1e9, "shape": shape}
    for rt in ("onnx", "openvino"):
        out[rt] = ceiling(rt, shape, args.batch, torch.get_num_threads())
    print(json.dumps(common._round(out)))
    return out


if __name__ == "__main__":
    main()
