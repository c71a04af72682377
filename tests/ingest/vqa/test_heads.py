"""Answer heads on disk, the captioner made of them, ``tuwen finetune --heads-only``, and
heads trained on a slice of real catalog photos."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from ingest.images import Preprocess
from ingest.models.fingerprint import local_revision
from ingest.vqa.captioner import (
    LIKELY_FLOOR,
    LIKELY_TOP,
    HeadsCaptioner,
    caption_style,
    compose,
)
from ingest.vqa.fit import HeadsConfig
from ingest.vqa.heads import BASE, HEADS_JSON, HEADS_WEIGHTS, AnswerHeads, HeadsError
from ingest.vqa.pixelnet import PixelNetConfig
from ingest.vqa.train import fit_heads, train_heads
from service.cli import main
from tests.conftest import make_catalog, photo
from tests.ingest.vqa.test_fit import _encode, _synthetic


@pytest.fixture(scope="module")
def synthetic_heads() -> AnswerHeads:
    features, captions, held = _synthetic()
    return fit_heads(features, captions, held, _encode, lexicon=None)


def test_heads_load_back_as_saved_and_a_model_without_them_has_none(synthetic_heads, tmp_path):
    assert AnswerHeads.load(tmp_path) is None and AnswerHeads.load(tmp_path / "missing") is None
    synthetic_heads.save(tmp_path)
    loaded = AnswerHeads.load(tmp_path)
    assert loaded is not None and loaded.digest == synthetic_heads.digest
    features, _, _ = _synthetic(n=10, seed=3)
    assert loaded.predict(features.clip, look_vectors=features.look) == synthetic_heads.predict(
        features.clip, look_vectors=features.look
    )
    first = loaded.predict(features.clip, look_vectors=features.look)[0]["color"]
    assert [v for v, _ in first] == sorted(
        synthetic_heads.vocabulary.of("color"), key=lambda v: -dict(first)[v]
    )
    assert sum(p for _, p in first) == pytest.approx(1.0)
    assert (
        loaded.fusion == synthetic_heads.fusion and loaded.thresholds == synthetic_heads.thresholds
    )
    # A weights file that does not go with the JSON is refused, naming both files.
    (tmp_path / HEADS_WEIGHTS).write_bytes((tmp_path / HEADS_WEIGHTS).read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(HeadsError, match=HEADS_JSON):
        AnswerHeads.load(tmp_path)


def test_heads_files_leave_the_model_fingerprint_alone(synthetic_heads, tiny_clip_dir, tmp_path):
    model = tmp_path / "clip"
    shutil.copytree(tiny_clip_dir, model)
    before = local_revision(model)
    synthetic_heads.save(model)
    assert local_revision(model) == before  # a collection built before still opens


def test_the_training_report_leaves_the_model_fingerprint_alone(tiny_clip_dir, tmp_path):
    from ingest.models.fingerprint import Fingerprint, same_model
    from ingest.store import EdgeStore

    model = tmp_path / "clip"
    shutil.copytree(tiny_clip_dir, model)
    (model / "training.json").write_text('{"seconds": 812.4}')
    now = Fingerprint(str(model.resolve()), local_revision(model), 16)
    (model / "training.json").write_text('{"seconds": 797.1}')  # the same weights, retrained
    assert local_revision(model) == now.revision
    # a collection that recorded a revision with training.json read opens with the same
    # directory as it was...
    earlier = Fingerprint(now.model, local_revision(model, ("vqa_heads.", ".vqa_heads.")), 16)
    assert earlier != now
    with EdgeStore(tmp_path / "data") as store:
        store.ensure(earlier)
        store.ensure(now)
    # ...and not once the weights change
    weights = next(model.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"\1" * 8)
    changed = Fingerprint(now.model, local_revision(model), 16)
    assert changed != now and not same_model(earlier, changed) and not same_model(now, changed)


def test_the_captioner_writes_the_confident_fields_in_the_catalog_style(synthetic_heads):
    heads = AnswerHeads(**{**synthetic_heads.__dict__})
    heads.thresholds = {BASE: {"color": 0.0, "category": 1.01}}  # colour always, type never
    heads.caption_style = {"order": ["gender", "color", "category"], "separator": ""}
    pre = Preprocess((16, 16), None, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    captioner = HeadsCaptioner(heads, pre, "vqa-heads:test")
    features, _, _ = _synthetic(n=3, seed=5)
    proposals = captioner.caption([photo((200, 30, 30))] * 3, features.clip)
    assert len(proposals) == 3
    for g in proposals:
        assert set(g.attributes) == {"color"} and g.caption == g.attributes["color"]
        assert g.attributes["color"] in heads.vocabulary.of("color")
        # Every field the heads know is proposed with its plausible values, the type too,
        # though no type is confident enough for the caption.
        assert {"color", "category"} <= set(g.likely)
        for dist in g.likely.values():
            probs = list(dist.values())
            assert 1 <= len(dist) <= LIKELY_TOP and probs == sorted(probs, reverse=True)
            assert min(probs) >= LIKELY_FLOOR and sum(probs) <= 1.0 + 1e-3
        assert next(iter(g.likely["color"])) == g.attributes["color"]
    assert compose(
        {"category": "衬衫", "gender": "男士", "color": "黑色"}, heads.caption_style
    ) == ("男士黑色衬衫")
    style = caption_style(
        ["Levis 男士黑色休闲三角内裤", "Puma 女士红色运动T恤", "男士款 白色 运动鞋"],
        [
            {
                "brand": "Levis",
                "gender": "男士",
                "color": "黑色",
                "usage": "休闲",
                "category": "三角内裤",
            },
            {
                "brand": "Puma",
                "gender": "女士",
                "color": "红色",
                "usage": "运动",
                "category": "T恤",
            },
            {"gender": "男士", "color": "白色", "category": "运动鞋"},
        ],
    )
    assert style["order"][:5] == ["brand", "gender", "color", "usage", "category"]
    assert compose({"brand": "Levis", "color": "黑色"}, style) == "Levis 黑色"
    assert compose({}, style) is None


def test_heads_only_trains_a_downloaded_model_the_same_way_twice(tiny_clip_dir, tmp_path, capsys):
    images, captions = make_catalog(tmp_path / "cat", n=40)
    model = tmp_path / "clip"
    shutil.copytree(tiny_clip_dir, model)
    argv = ["finetune", "--heads-only", "--out", str(model), "--images", str(images)]
    argv += ["--captions", str(captions), "--holdout", "0.3"]
    assert main(argv) == 0
    assert "answer heads" in capsys.readouterr().out
    first = (model / HEADS_WEIGHTS).read_bytes(), (model / HEADS_JSON).read_text()
    assert main(argv) == 0
    assert ((model / HEADS_WEIGHTS).read_bytes(), (model / HEADS_JSON).read_text()) == first
    captioner = HeadsCaptioner.from_model_dir(model)
    heads = AnswerHeads.load(model)
    assert captioner is not None and heads is not None
    assert captioner.name.startswith("vqa-heads/") and heads.digest[:16] in captioner.name
    assert len(captioner.caption([photo((30, 30, 200))], np.zeros((1, 16), np.float32))) == 1
    assert HeadsCaptioner.from_model_dir(tiny_clip_dir) is None
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    argv[3] = str(not_a_model)
    assert main(argv) == 1 and "not a model directory" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.data
def test_heads_learn_colour_and_type_from_real_photos(catalog_dev, tiny_clip_dir, tmp_path):
    """800 annotated photos and a random tiny CLIP: what the heads learn comes from the look
    vector and the colour histogram. An untrained head (uniform, so the most frequent
    answer) scores the majority share; these bars are well above it."""
    with (catalog_dev / "train_annotation.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    sliced = tmp_path / "slice.csv"
    with sliced.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows[:801])
    model = tmp_path / "clip"
    shutil.copytree(tiny_clip_dir, model)
    net = PixelNetConfig(width=16, epochs=8)
    config = HeadsConfig(holdout=0.25, pixel_net=net)
    heads = train_heads(model, catalog_dev / "images", sliced, config=config, progress=False)
    fields = heads.report["fields"]
    # The pixel network learns from 600 photos in 8 short epochs: above the majority share.
    counts = heads.vocabulary.counts["category"]
    assert fields["category"]["alone"]["pixelnet"] > counts[0] / sum(counts) + 0.1
    for name, bar in (("color", 0.2), ("category", 0.2)):
        counts = heads.vocabulary.counts[name]
        majority = counts[0] / sum(counts)
        best = max(v for k, v in fields[name]["alone"].items() if k.startswith("heads"))
        assert best > majority + bar, (name, best, majority)
        assert max(fields[name]["fused"].values()) >= best - 1e-9
    doc = json.loads((model / HEADS_JSON).read_text())
    assert doc["report"]["heldout"] > 150 and "colour" in doc["heads"]
