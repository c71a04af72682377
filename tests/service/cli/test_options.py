"""One CLI vocabulary: every command that answers takes the same generation options."""

from __future__ import annotations

import argparse

import pytest

from service.cli import build_parser, main
from service.cli.options import settings_from
from service.generation.factory import BACKENDS, resolve_backend

ANSWERING = {
    "ask": ["ask", "图中商品是什么颜色？"],
    "answer": ["answer", "query.json", "-o", "out.json"],
    "serve": ["serve"],
}
GENERATION = ["--llm", "extractive", "--llm-model", "glm-4", "--llm-base-url", "http://h:1/v1"]


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    # the environment names a server, so `auto` would be openai: the flags must win
    monkeypatch.setenv("TUWEN_LLM", "auto")
    monkeypatch.setenv("TUWEN_LLM_BASE_URL", "http://env:9/v1")
    monkeypatch.setenv("TUWEN_LLM_MODEL", "env-model")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _generation_options(parser: argparse.ArgumentParser) -> set[tuple]:
    return {
        (tuple(a.option_strings), tuple(a.choices or ()), a.help)
        for a in parser._actions
        if any(o.startswith("--llm") for o in a.option_strings)
    }


@pytest.mark.parametrize("command", sorted(ANSWERING))
def test_every_answering_command_takes_the_generation_options(command):
    args = build_parser().parse_args(ANSWERING[command] + GENERATION)
    settings = settings_from(args)
    assert (settings.llm, settings.llm_model, settings.llm_base_url) == (
        "extractive",
        "glm-4",
        "http://h:1/v1",
    )
    assert resolve_backend(settings) == "extractive"
    unset = settings_from(build_parser().parse_args(ANSWERING[command]))
    assert resolve_backend(unset) == "openai"  # without flags, the environment decides
    assert settings.llm_vision is False and unset.llm_vision is False
    seeing = settings_from(build_parser().parse_args([*ANSWERING[command], "--llm-vision"]))
    assert seeing.llm_vision is True


def test_the_answering_commands_share_one_set_and_the_others_have_none():
    commands = _subcommands()
    ask = _generation_options(commands["ask"])
    assert {o[0] for o in ask} == {
        ("--llm",),
        ("--llm-model",),
        ("--llm-base-url",),
        ("--llm-vision", "--no-llm-vision"),
    }
    assert next(o[1] for o in ask if o[0] == ("--llm",)) == BACKENDS
    assert _generation_options(commands["answer"]) == ask
    assert _generation_options(commands["serve"]) == ask
    for other in ("ingest", "stats", "eval", "finetune", "questions"):
        assert not _generation_options(commands[other]), other


def test_serve_llm_extractive_reaches_the_app(monkeypatch, tmp_path, capsys):
    import uvicorn
    from fastapi import FastAPI

    import service.http.app as http_app

    seen: dict = {}
    create_app = http_app.create_app

    def recording_create_app(settings):
        seen["settings"] = settings
        return create_app(settings)

    monkeypatch.setattr(http_app, "create_app", recording_create_app)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    argv = ["serve", "--llm", "extractive", "--data-dir", str(tmp_path), "--port", "8123"]
    assert main(argv) == 0
    settings = seen["settings"]
    assert settings.llm == "extractive" and resolve_backend(settings) == "extractive"
    assert settings.data_dir == tmp_path
    assert isinstance(seen["app"], FastAPI) and (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    assert "http://127.0.0.1:8123/" in capsys.readouterr().err


def test_an_unknown_backend_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--llm", "gpt"])
    assert exit_.value.code == 2
    assert "invalid choice: 'gpt'" in capsys.readouterr().err
