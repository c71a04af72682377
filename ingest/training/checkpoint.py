"""The weights a run keeps (the best evaluated epoch's) and the save that swaps the model
and its ``training.json`` into place."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict

import torch

from ingest.training.config import EpochRecord, FinetuneResult
from ingest.training.epoch import mean_recall
from ingest.training.model import Trainable


class BestWeights:
    """The best evaluated weights so far (by mean held-out recall, else the probe's)."""

    def __init__(self, first: EpochRecord) -> None:
        self.epoch = first.epoch
        self.score = mean_recall(first.heldout or first.train_probe)
        self.state: dict[str, torch.Tensor] | None = None

    def offer(self, rec: EpochRecord, model: torch.nn.Module) -> None:
        """Keep a copy of the weights when ``rec`` beats the best so far."""
        score = mean_recall(rec.heldout or rec.train_probe)
        if score > self.score:
            self.epoch, self.score = rec.epoch, score
            self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

    def restore(self, model: torch.nn.Module) -> None:
        """Load the kept weights back (nothing to do when the last state was never beaten)."""
        if self.state is not None:
            model.load_state_dict(self.state)


def save_run(trainable: Trainable, result: FinetuneResult, t_start: float) -> None:
    """Write the model and training.json next to ``result.out``, then swap it into place,
    so that a run killed while saving leaves the previous model untouched.

    Sets ``result.seconds`` to the run's wall time, the save's start included.
    """
    out = result.out
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    trainable.model.eval()
    trainable.save(tmp)
    result.seconds = round(time.monotonic() - t_start, 1)
    doc = {
        "format": "tuwen-finetune/1",
        "settings": result.settings,
        "epochs": [asdict(r) for r in result.records],
        "best": asdict(result.best),
        "stopped": result.stopped,
        "seconds": result.seconds,
    }
    (tmp / "training.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
