"""The write-path commands ``tuwen ingest`` and ``tuwen stats``, run in-process by ``main``."""

from __future__ import annotations

import json

import pytest

from service.cli import main
from tests.conftest import make_catalog


@pytest.fixture
def env(tmp_path, monkeypatch, tiny_clip_dir):
    monkeypatch.setenv("TUWEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TUWEN_CLIP_MODEL", str(tiny_clip_dir))
    monkeypatch.setenv("TUWEN_DTYPE", "float32")
    monkeypatch.setenv("TUWEN_DECODE_WORKERS", "1")
    return make_catalog(tmp_path / "cat", n=8, captioned=6)


def test_ingest_then_stats_then_idempotent_rerun(env, tmp_path, capsys, monkeypatch):
    images, captions = env
    report = tmp_path / "report.json"
    assert (
        main(["ingest", str(images), "--captions", str(captions), "--report", str(report), "-q"])
        == 0
    )
    assert json.loads(report.read_text()) == {
        "added": 8,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "failed": [],
        "generated": 0,
        "upgraded": 0,
    }
    out = capsys.readouterr().out
    assert "added 8" in out and "images/s" in out
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["points"] == 8 and stats["captioned"] == 6
    assert stats["model"]["dim"] == 16 and stats["collection"] == "tuwen"
    assert stats["data_dir"] == str((tmp_path / "data").resolve())
    assert (
        main(["ingest", str(images), "--captions", str(captions), "--report", str(report), "-q"])
        == 0
    )
    assert json.loads(report.read_text())["unchanged"] == 8


def test_partial_failure_exits_3_with_reasons_in_the_report(env, tmp_path, capsys):
    images, captions = env
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    report = tmp_path / "r.json"
    assert (
        main(["ingest", str(images), "--captions", str(captions), "--report", str(report), "-q"])
        == 3
    )
    data = json.loads(report.read_text())
    assert list(data) == [
        "added",
        "updated",
        "unchanged",
        "removed",
        "failed",
        "generated",
        "upgraded",
    ]
    assert data["added"] == 8
    assert [f["file"] for f in data["failed"]] == ["broken.jpg"] and data["failed"][0]["reason"]
    assert "broken.jpg" in capsys.readouterr().out


def test_fatal_errors_are_one_line_and_exit_1(env, tmp_path, capsys):
    images, captions = env
    bad = tmp_path / "bad.csv"
    bad.write_bytes("image,text\n1000.jpg,男士衬衫\n".encode() + b"1001.jpg,\xff\xfe\xfa\n")
    assert main(["ingest", str(images), "--captions", str(bad), "-q"]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3" in err and "Traceback" not in err
    assert main(["ingest", str(tmp_path / "nowhere"), "-q"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["ingest", str(images), "--clip-model", str(tmp_path / "no-model"), "-q"]) == 1
    assert "TUWEN_CLIP_MODEL" in capsys.readouterr().err


def test_another_model_on_the_same_collection_is_refused(env, tmp_path, capsys):
    from tests.tiny_models import tiny_chinese_clip

    images, captions = env
    assert main(["ingest", str(images), "-q"]) == 0
    other = tmp_path / "other-model"
    tiny_chinese_clip(other, ["男士"], seed=5)
    assert main(["ingest", str(images), "--clip-model", str(other), "-q"]) == 1
    err = capsys.readouterr().err
    assert "was built with" in err and "--clip-model" in err


@pytest.mark.parametrize(
    ("runtime", "notice"),
    [
        ("onnx", "exporting the vision tower to int8 ONNX"),
        # calibrated on the ingested catalog's own photos
        ("openvino", "quantising the vision tower to int8 OpenVINO on 8 catalog photos"),
    ],
)
def test_first_ingest_with_a_model_says_it_exports_the_int8_tower(
    env, tmp_path, monkeypatch, caplog, runtime, notice
):
    images, captions = env
    cache = tmp_path / "cache"
    monkeypatch.setenv("TUWEN_CACHE_DIR", str(cache))
    monkeypatch.setenv("TUWEN_INT8_RUNTIME", runtime)
    caplog.handler.setLevel("INFO")  # loggers keep the levels the CLI gives them
    assert main(["ingest", str(images), "--captions", str(captions)]) == 0
    logger = f"ingest.models.{runtime}_int8"
    assert any(notice in r.getMessage() for r in caplog.records if r.name == logger)
    assert len([p for p in (cache / runtime).iterdir() if p.name != "compiled"]) == 1
    caplog.clear()
    (images / "extra.jpg").write_bytes(
        (images / sorted(p.name for p in images.iterdir())[0]).read_bytes()
    )
    assert main(["ingest", str(images), "--captions", str(captions)]) == 0
    assert not [r for r in caplog.records if notice[:10] in r.getMessage()]  # cached
