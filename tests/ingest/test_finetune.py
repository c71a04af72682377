"""``tuwen finetune``: the pieces (split, augmentation, init, freezing), a
seconds-long run on synthetic photos loaded back through the production path, and a short
from-scratch run on real catalog photos with bars a broken trainer cannot pass."""

from __future__ import annotations

import csv
import json
import math
import time

import numpy as np
import pytest
import torch

from ingest.models.clip import ClipEncoder
from ingest.training.augment import Augment, augment
from ingest.training.data import is_held_out
from ingest.training.model import build_scratch, freeze_layers, towers
from service.cli import main
from tests.conftest import CAPTIONS, make_catalog, photo


# ---------------------------------------------------------------------------- pieces
def test_held_out_split_is_deterministic_by_file_name():
    names = [f"{i}.jpg" for i in range(2000)]
    held = [n for n in names if is_held_out(n, 0.1)]
    assert 150 < len(held) < 250
    assert held == [n for n in names if is_held_out("sub/dir/" + n, 0.1)]
    assert not any(is_held_out(n, 0.0) for n in names)


def test_augmentation_keeps_the_colour():
    colours = [(200, 30, 30), (30, 160, 40), (30, 40, 190), (20, 20, 20), (230, 220, 60)]
    u8 = np.stack([np.asarray(photo(c, size=(40, 40), seed=i)) for i, c in enumerate(colours)])
    x = torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 255
    out = augment(x, 32, Augment(jitter=0.1), torch.Generator().manual_seed(0))
    assert out.shape == (5, 3, 32, 32)
    # No hue jitter: each photo's dominant channel stays dominant, and a dark photo stays dark.
    for src, dst in zip(x, out, strict=True):
        assert src.mean((1, 2)).argmax() == dst.mean((1, 2)).argmax()
    assert out[3].mean() < 0.2


# ---------------------------------------------------------------------------- the model
def _text_cosine(model, tokenizer) -> float:
    batch = tokenizer(CAPTIONS, padding=True, return_tensors="pt")
    with torch.no_grad():
        e = model.eval().get_text_features(**batch).pooler_output
    e = torch.nn.functional.normalize(e, dim=1)
    n = len(CAPTIONS)
    return float(((e @ e.t()).sum() - n) / (n * n - n))


def test_scratch_model_reads_its_captions_and_starts_uncollapsed(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    from ingest.models.architectures import build_chinese_clip, caption_vocab

    t = build_scratch(CAPTIONS, "mini", seed=0)
    ids = t.tokenizer(CAPTIONS[0])["input_ids"]
    assert t.tokenizer.unk_token_id not in ids  # every character is in the vocabulary
    assert t.tokenizer.convert_ids_to_tokens(ids)[1:4] == ["peter", "england", "男"]
    # As built by build_chinese_clip, all captions share one text vector; after
    # init_for_contrastive_training they differ.
    build_chinese_clip(tmp_path, caption_vocab(CAPTIONS), "mini", seed=0)
    raw = AutoModel.from_pretrained(tmp_path)
    assert _text_cosine(raw, AutoTokenizer.from_pretrained(tmp_path)) > 0.999
    assert _text_cosine(t.model, t.tokenizer) < 0.97
    assert t.model.config.text_config.hidden_dropout_prob == 0.0


def _trainable(params) -> bool:
    return all(p.requires_grad for p in params)


def _frozen(params) -> bool:
    return not any(p.requires_grad for p in params)


def test_freeze_flags_set_requires_grad():
    model = build_scratch(CAPTIONS, "tiny").model
    tw = towers(model)
    vision, text = tw["vision"], tw["text"]

    counts = freeze_layers(model, "vision")
    assert _frozen(vision.body.parameters()) and _frozen(vision.projection.parameters())
    assert _trainable(text.body.parameters()) and _trainable(text.projection.parameters())
    assert model.logit_scale.requires_grad
    assert counts["frozen_params"] == sum(
        p.numel() for p in [*vision.body.parameters(), *vision.projection.parameters()]
    )

    freeze_layers(model, "text", unfreeze_last=1)
    assert _trainable(vision.body.parameters())
    assert _frozen(text.layers[0].parameters()) and _trainable(text.layers[-1].parameters())
    assert _frozen(model.text_model.embeddings.parameters())
    assert _trainable(text.projection.parameters())

    freeze_layers(model, "vision", unfreeze_last=1)
    assert _frozen(vision.layers[0].parameters()) and _trainable(vision.layers[-1].parameters())
    post = model.vision_model.post_layernorm
    assert _trainable(post.parameters()) and _trainable(vision.projection.parameters())
    assert _frozen(model.vision_model.embeddings.parameters())

    freeze_layers(model, "none", unfreeze_last=1)  # only the last layer of each tower
    for tower in (vision, text):
        assert _frozen(tower.layers[0].parameters()) and _trainable(tower.layers[-1].parameters())

    freeze_layers(model, "none")
    assert _trainable(model.parameters())
    with pytest.raises(ValueError, match="--freeze"):
        freeze_layers(model, "image")


# ---------------------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_catalog(tmp_path_factory.mktemp("ft-cat"), n=40)


def test_from_scratch_run_saves_a_model_the_production_path_loads(synthetic, tmp_path, capsys):
    images, captions = synthetic
    out = tmp_path / "model"
    argv = ["finetune", "--images", str(images), "--captions", str(captions), "--out", str(out)]
    rc = main(
        argv
        + ["--from-scratch", "--size", "tiny", "--epochs", "2", "--batch-size", "8"]
        + ["--holdout", "0.25", "--threads", "1", "-q"]
    )
    assert rc == 0
    assert "best epoch" in capsys.readouterr().out
    enc = ClipEncoder.from_pretrained(out, dtype="float32")
    assert enc.encode_texts(["男士黑色衬衫"]).shape == (1, 16)
    assert enc.encode_images([photo((200, 30, 30))]).shape == (1, 16)
    doc = json.loads((out / "training.json").read_text())
    assert [e["epoch"] for e in doc["epochs"]] == [0, 1, 2]
    for e in doc["epochs"]:
        assert set(e["heldout"]["t2i"]) == {"R@1", "R@5", "R@10"} and "i2t" in e["heldout"]
    assert doc["epochs"][1]["train_loss"] > 0 and doc["epochs"][1]["samples_per_s"] > 0
    assert doc["best"]["epoch"] in (0, 1, 2)
    assert doc["settings"]["heldout_images"] > 0 and doc["settings"]["source"] == "scratch:tiny"
    assert doc["stopped"] == "epochs"
    # The answer heads are trained on the saved model in the same run (and can be skipped).
    assert doc["settings"]["heads"] is True and (out / "vqa_heads.json").is_file()
    # A second run replaces the model; a folder that holds something else is refused.
    assert (
        main(argv + ["--from-scratch", "--size", "tiny", "--epochs", "1", "--no-heads", "-q"]) == 0
    )
    assert len(json.loads((out / "training.json").read_text())["epochs"]) == 2
    assert not (out / "vqa_heads.json").exists()  # the new model has none: the old ones went
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    argv[-1] = str(other)
    assert main(argv + ["--from-scratch", "--size", "tiny", "-q"]) == 1
    assert "not a model directory" in capsys.readouterr().err


def test_minutes_bound_the_whole_run(synthetic, tmp_path):
    images, captions = synthetic
    out = tmp_path / "model"
    t0 = time.monotonic()
    rc = main(
        ["finetune", "--images", str(images), "--captions", str(captions), "--out", str(out)]
        + ["--from-scratch", "--size", "tiny", "--minutes", "0.25", "--batch-size", "8", "-q"]
    )
    elapsed = time.monotonic() - t0
    assert rc == 0
    # 15 s, loading, evaluation and saving included (plus slack for a busy machine).
    assert elapsed < 15.0 + 3.0
    doc = json.loads((out / "training.json").read_text())
    assert doc["stopped"] == "minutes" and doc["seconds"] <= 15.0
    assert len(doc["epochs"]) > 2  # it trained, not just gave up


def test_base_model_with_frozen_vision_keeps_the_vision_weights(synthetic, tiny_clip_dir, tmp_path):
    from safetensors.torch import load_file

    images, captions = synthetic
    out = tmp_path / "model"
    rc = main(
        ["finetune", "--images", str(images), "--captions", str(captions), "--out", str(out)]
        + ["--base", str(tiny_clip_dir), "--freeze", "vision", "--epochs", "2"]
        + ["--batch-size", "8", "--lr", "1e-2", "--threads", "1", "-q"]
    )
    assert rc == 0
    before = load_file(str(tiny_clip_dir / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    vision = [k for k in before if k.startswith(("vision_model.", "visual_projection."))]
    text = [k for k in before if k.startswith(("text_model.encoder.", "text_projection."))]
    assert vision and text
    assert all(torch.equal(before[k], after[k]) for k in vision)
    assert not all(torch.equal(before[k], after[k]) for k in text)
    assert json.loads((out / "training.json").read_text())["settings"]["freeze"] == "vision"
    assert ClipEncoder.from_pretrained(out, dtype="float32").dim == 16


def test_finetune_needs_a_model_source(synthetic, tmp_path, capsys):
    images, captions = synthetic
    argv = ["finetune", "--images", str(images), "--captions", str(captions)]
    with pytest.raises(SystemExit):
        main(argv + ["--out", str(tmp_path / "m")])  # neither --base nor --from-scratch
    rc = main(argv + ["--out", str(tmp_path / "m"), "--from-scratch", "--size", "huge", "-q"])
    assert rc == 1 and "unknown architecture size" in capsys.readouterr().err


# ---------------------------------------------------------------------------- real photos
@pytest.mark.slow
@pytest.mark.data
def test_short_run_on_real_photos_learns(catalog_dev, tmp_path):
    """300 annotated photos, the test-sized architecture, about a minute on 2 cores."""
    with (catalog_dev / "train_annotation.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    sliced = tmp_path / "slice.csv"
    with sliced.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows[:301])
    out = tmp_path / "model"
    batch = 32
    rc = main(
        ["finetune", "--images", str(catalog_dev / "images"), "--captions", str(sliced)]
        + ["--out", str(out), "--from-scratch", "--size", "mini", "--epochs", "30"]
        + ["--minutes", "1.5", "--batch-size", str(batch), "-q"]
    )
    assert rc == 0
    doc = json.loads((out / "training.json").read_text())
    epochs = doc["epochs"]
    last = epochs[-1]
    n_probe = last["train_probe"]["n"]
    # A trainer that does not learn sits at loss ln(batch) (equal logits give ln(batch) for
    # any target rows, the soft ones included) with recall at chance (5/n).
    assert doc["settings"]["soft_targets"] == 0.5 and doc["settings"]["lr"] == 1e-3
    assert last["train_loss"] < 0.8 * math.log(batch)
    assert last["train_probe"]["t2i"]["R@5"] > 6 * 5 / n_probe
    assert last["train_probe"]["i2t"]["R@5"] > 6 * 5 / n_probe
    n_held = last["heldout"]["n"]
    best = doc["best"]["heldout"]
    assert best["t2i"]["R@5"] + best["i2t"]["R@5"] > 2 * 1.5 * 5 / n_held
    enc = ClipEncoder.from_pretrained(out)
    assert enc.encode_texts(["Nike 男士黑色运动T恤"]).shape == (1, enc.dim)
