"""A non-editable install: the wheel carries the prompts and the web page, and the installed
copy (not this checkout) answers with ``tuwen ask`` and serves the page from another directory.

The wheel is built from a copy of the sources with the environment's own setuptools, and
installed with ``pip --target``; nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.store import EdgeStore
from tests.conftest import REPO, make_catalog

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "README.md", "ingest", "service", "prompts")
PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input")
# Run by the installed copy: where each package comes from, a rendered prompt, the web page.
CHECK_INSTALLED = """
import json, sys
from fastapi.testclient import TestClient

import ingest, prompts, service
import service.http.app as app_module
from ingest.hits import Hit
from ingest.settings import Settings
from service.answering.prompt import build_prompt
from service.routing import Route

prompt = build_prompt("这是什么？", Route("describe"), [Hit("1", "1000.jpg", "红色连衣裙", 0.9)])
with TestClient(app_module.create_app(Settings())) as client:
    page, script = client.get("/"), client.get("/static/app.js")
print(json.dumps({
    "files": [m.__file__ for m in (ingest, prompts, service, app_module)],
    "system": prompt.messages[0]["content"],
    "page": [page.status_code, page.text],
    "script": [script.status_code, len(script.content)],
}))
"""


def _run(cmd: list[str] | tuple[str, ...], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, f"{cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """tuwen's wheel, built from a copy of this checkout's sources."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    _run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(root), "."],
        cwd=src,
    )
    (built,) = root.glob("tuwen-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed (not editable) into a folder of its own."""
    site = tmp_path_factory.mktemp("site")
    _run([*PIP, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)])
    return site


def _env(site: Path, **settings: str) -> dict[str, str]:
    """This environment with only ``site`` on PYTHONPATH and only the given TUWEN_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUWEN_")}
    env.update(PYTHONPATH=str(site), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.update({f"TUWEN_{k.upper()}": v for k, v in settings.items()})
    return env


def test_the_wheel_carries_the_prompts_and_the_web_page(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    prompts = {f"prompts/{p.name}" for p in (REPO / "prompts").glob("*.txt")}
    web = {f"service/http/web/{p.name}" for p in (REPO / "service/http/web").iterdir()}
    assert {"prompts/system.txt", "prompts/answer.txt"} <= prompts
    assert {"service/http/web/index.html", "service/http/web/app.js"} <= web
    assert prompts | web | {"prompts/__init__.py"} <= names, sorted(prompts | web - names)
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)


def test_the_installed_copy_serves_the_page_and_renders_prompts_from_elsewhere(
    installed, tmp_path, tiny_clip_dir
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(
        installed, data_dir=str(tmp_path / "data"), clip_model=str(tiny_clip_dir), dtype="float32"
    )
    out = _run([sys.executable, "-c", CHECK_INSTALLED], cwd=elsewhere, env=env)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    for file in report["files"]:
        assert Path(file).resolve().is_relative_to(installed.resolve()), file
    assert report["system"] == (REPO / "prompts" / "system.txt").read_text("utf-8").strip()
    status, page = report["page"]
    assert status == 200 and page == (REPO / "service/http/web/index.html").read_text("utf-8")
    assert report["script"] == [200, (REPO / "service/http/web/app.js").stat().st_size]


def test_installed_tuwen_ask_answers_with_citations_from_elsewhere(
    installed, tmp_path, tiny_clip_dir, tiny_encoder, tiny_glm_dir
):
    images, captions = make_catalog(tmp_path / "cat", n=8, captioned=8)
    with EdgeStore(tmp_path / "data") as store:
        run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(
        installed,
        data_dir=str(tmp_path / "data"),
        clip_model=str(tiny_clip_dir),
        dtype="float32",
        device="cpu",
        llm="transformers",
        llm_model=str(tiny_glm_dir),
    )
    tuwen = installed / "bin" / "tuwen"
    question = "图中商品是什么颜色？"
    out = _run(
        [sys.executable, str(tuwen), "ask", question, "--image", "1000.jpg", "--json"],
        cwd=elsewhere,
        env=env,
    )
    answer = json.loads(out.stdout)
    assert answer["question"] == question and answer["citations"]
    assert "transformers" in answer["backend"] and "extractive" not in answer["backend"]
