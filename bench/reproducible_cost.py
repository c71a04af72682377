"""What ``tuwen finetune --reproducible`` costs: training steps with the AVX2 code paths it
pins (:mod:`ingest.training.reproducible`) against the CPU's own, both with its 2 threads.

    python bench/reproducible_cost.py [--steps 12]

Each setting runs in its own process (torch reads its kernels' instruction set at the first
tensor operation). Timed: an optimiser step of the from-scratch CLIP (``--size small``, batch
128, float32) and of the answer heads' pixel network (batch 64, 64 px), random inputs, the
median of ``--steps`` after 3 warm-up steps. On a CPU without AVX-512 both settings run the
same code, and the ratio is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

CAPTIONS = [
    "Peter England 男士紫色正装衬衫",
    "ASICS运动鞋 男士款 白色 运动风格",
    "女士黑色休闲手提包",
]


def _median_step(step, steps: int) -> float:
    times = []
    for _ in range(3 + steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[3:])


def worker(steps: int) -> dict:
    """Time both steps in this process, with the kernels its environment selects."""
    import torch
    import torch.nn.functional as F

    from ingest.training.model import build_scratch
    from ingest.vqa.pixelnet import PixelNet, PixelNetConfig

    torch.set_num_threads(2)
    torch.manual_seed(0)
    t = build_scratch(CAPTIONS * 43, "small")
    model = t.model.train()
    tokens = t.tokenizer((CAPTIONS * 43)[:128], padding=True, return_tensors="pt")
    pixels = torch.rand(128, 3, t.image_size, t.image_size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def clip_step() -> None:
        out = model(**tokens, pixel_values=pixels, return_loss=True)
        opt.zero_grad()
        out.loss.backward()
        opt.step()

    classes = {"category": [str(i) for i in range(60)], "color": [str(i) for i in range(30)]}
    net = PixelNet(PixelNetConfig(), classes).module.train()
    net_opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x = torch.randn(64, 3, 64, 64)
    ys = {k: torch.randint(0, len(v), (64,)) for k, v in classes.items()}

    def pixel_step() -> None:
        h = net["body"](x)
        loss = sum(F.cross_entropy(net["outputs"][k](h), ys[k]) for k in classes)
        net_opt.zero_grad()
        loss.backward()
        net_opt.step()

    return {
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "clip_s": _median_step(clip_step, steps),
        "pixel_s": _median_step(pixel_step, steps),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.steps)))
        return
    from ingest.training.reproducible import PINNED_ENV

    native_env = {k: v for k, v in os.environ.items() if k not in PINNED_ENV}
    runs = {}
    for name, env in (("native", native_env), ("pinned", {**native_env, **PINNED_ENV})):
        out = subprocess.run(
            [common.PYTHON, __file__, "--worker", "--steps", str(args.steps)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs[name] = json.loads(out.strip().splitlines()[-1])
    conditions = (
        f"{common.machine()}; 2 threads, float32; native kernels {runs['native']['kernels']}, "
        f"pinned {runs['pinned']['kernels']}"
    )
    for part, label in (("clip_s", "CLIP"), ("pixel_s", "pixel network")):
        common.emit(
            f"{label} training step, reproducible (AVX2 paths) vs the CPU's own",
            runs["pinned"][part],
            "s/step",
            "none: the price of the same weights on every machine",
            None,
            conditions,
            baseline=runs["native"][part],
            ratio=runs["pinned"][part] / runs["native"][part],
        )


if __name__ == "__main__":
    main()
