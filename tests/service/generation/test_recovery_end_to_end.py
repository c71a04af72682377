"""The server with an OpenAI-compatible LLM that fails, then recovers.

First question: the LLM fails, the answer is extractive and says why. During the back-off:
extractive again, and the LLM is not called. After it: the LLM answers again. ``/readyz`` and
``/metrics`` follow each step. The back-off runs on a fake clock, so nothing sleeps.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

import service.generation.recovering as recovering
from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.settings import Settings
from ingest.store import EdgeStore
from service.http.app import create_app
from tests.conftest import make_catalog
from tests.service.generation.conftest import PIECES, FakeClock

QUESTION = {"question": "图中商品是什么颜色？", "image": "1000.jpg"}


@pytest.fixture()
def catalog(tmp_path, tiny_encoder):
    images, captions = make_catalog(tmp_path / "cat", n=6)
    with EdgeStore(tmp_path / "data") as store:
        run_ingest(load_catalog(images, captions), store, tiny_encoder, progress=False, workers=1)
    return images, tmp_path / "data"


def llm_up(client: TestClient) -> float:
    text = client.get("/metrics").text
    found = re.search(r"^tuwen_llm_up\{[^}]*\} (\S+)$", text, re.MULTILINE)
    assert found, "no tuwen_llm_up gauge in /metrics"
    return float(found.group(1))


def test_a_failing_llm_is_answered_around_then_used_again(
    catalog, tiny_clip_dir, fake_openai, monkeypatch
):
    clock = FakeClock()
    monkeypatch.setattr(recovering, "time", SimpleNamespace(monotonic=clock))
    images, data_dir = catalog
    url = f"{fake_openai.url}/v1"
    settings = Settings(
        data_dir=data_dir,
        clip_model=str(tiny_clip_dir),
        dtype="float32",
        images_dir=images,
        llm_base_url=url,
        llm_model="glm-4",
        llm_retry_s=30,
        llm_retry_max_s=600,
    )
    fake_openai.mode = "broken"
    with TestClient(create_app(settings)) as client:
        llm = client.get("/readyz").json()["detail"]["llm"]
        assert llm["state"] == "ok" and llm["backend"] == f"openai:glm-4@{url}"

        # 1. the LLM fails: an extractive answer that says so
        first = client.post("/v1/ask", json=QUESTION).json()
        assert len(fake_openai.requests) == 1
        reason = first["meta"]["fallback"]
        assert "HTTP 500" in reason and url in reason
        assert first["backend"] == f"extractive (fallback: {reason})"
        assert first["answer"] and first["citations"]
        llm = client.get("/readyz").json()["detail"]["llm"]
        assert (llm["state"], llm["failures"], llm["retry_in_s"]) == ("backoff", 1, 30)
        assert "HTTP 500" in llm["last_error"]
        assert llm_up(client) == 0

        # 2. the server is back, but the back-off is not over: the LLM is not asked
        fake_openai.mode = "stream"
        clock.advance(29)
        second = client.post("/v1/ask", json=QUESTION).json()
        assert len(fake_openai.requests) == 1
        for key in ("answer", "citations", "backend", "meta"):
            assert second[key] == first[key]

        # 3. after the back-off the LLM answers again
        clock.advance(1)
        third = client.post("/v1/ask", json=QUESTION).json()
        assert len(fake_openai.requests) == 2
        assert third["backend"] == f"openai:glm-4@{url}"
        assert third["answer"] == "".join(PIECES[:2]) and "fallback" not in third["meta"]
        llm = client.get("/readyz").json()["detail"]["llm"]
        assert (llm["state"], llm["failures"], llm["failures_total"]) == ("ok", 0, 1)
        assert llm_up(client) == 1
