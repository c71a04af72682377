"""``/readyz`` and ``/metrics``: readiness, and the LLM backend's state through a failure."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from ingest.settings import Settings
from service.generation import GeneratorUnavailable, RecoveringGenerator
from service.http.app import create_app

LABEL = "openai:glm-4@http://127.0.0.1:9/v1"


class Backend:
    """A chat backend that answers with one piece."""

    name = "openai:glm-4"

    def stream(self, messages, max_new_tokens=256):
        yield "黑色"


def gauge(text: str, name: str) -> float | None:
    """The value of the gauge ``name`` in a Prometheus exposition, ``None`` when absent."""
    m = re.search(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_extractive_answers_show_no_llm(served):
    client, _ = served
    detail = client.get("/readyz").json()["detail"]
    assert detail["backend"] == "extractive" and detail["llm"] is None
    assert gauge(client.get("/metrics").text, "tuwen_llm_up") is None


def test_readyz_and_metrics_follow_the_llm_through_a_failure_and_back(served, monkeypatch):
    client, _ = served
    now = [100.0]
    loads = iter([GeneratorUnavailable("connection refused"), Backend()])

    def load():
        result = next(loads)
        if isinstance(result, Exception):
            raise result
        return result

    llm = RecoveringGenerator(load, label=LABEL, retry_s=30, clock=lambda: now[0])
    monkeypatch.setattr(client.app.state.service.answerer, "generator", llm)

    detail = client.get("/readyz").json()["detail"]
    assert detail["backend"] == LABEL
    status = detail["llm"]
    assert status["state"] == "backoff" and status["failures"] == 1
    assert "connection refused" in status["last_error"] and status["retry_in_s"] == 30
    text = client.get("/metrics").text
    assert gauge(text, "tuwen_llm_up") == 0 and gauge(text, "tuwen_llm_failures") == 1
    assert gauge(text, "tuwen_llm_retry_in_seconds") == 30
    assert f'tuwen_llm_up{{backend="{LABEL}"}}' in text

    now[0] += 31  # the back-off is over: the next call loads the backend and it answers
    assert list(llm.stream([{"role": "user", "content": "颜色？"}])) == ["黑色"]
    detail = client.get("/readyz").json()["detail"]
    assert detail["backend"] == "openai:glm-4"
    assert detail["llm"]["state"] == "ok" and detail["llm"]["failures"] == 0
    text = client.get("/metrics").text
    assert 'tuwen_llm_up{backend="openai:glm-4"} 1.0' in text
    assert 'tuwen_llm_failures{backend="openai:glm-4"} 0.0' in text
    assert LABEL not in text  # no stale samples under the name it had before it loaded


def test_until_the_service_is_built_readyz_and_the_api_answer_503(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data"))
    client = TestClient(app)  # not entered: the app has not started
    assert client.get("/healthz").json() == {"status": "ok", "detail": {}}
    assert client.get("/readyz").status_code == 503
    r = client.get("/v1/search", params={"q": "衬衫"})
    assert r.status_code == 503 and r.json()["detail"] == "the service is starting"
