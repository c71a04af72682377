"""The OpenAI-compatible backend against a fake server: SSE pieces, plain JSON, errors."""

from __future__ import annotations

import pytest

from service.answering.citations import extract_citations
from service.generation import GeneratorUnavailable, generate
from service.generation.openai_chat import OpenAIGenerator
from tests.service.generation.conftest import MESSAGES, PIECES


def test_streams_sse_pieces(fake_openai):
    gen = OpenAIGenerator(f"{fake_openai.url}/v1/", "glm-4-9b-chat", api_key="sk-test")
    pieces = list(gen.stream(MESSAGES, max_new_tokens=32))
    assert pieces == PIECES
    request = fake_openai.requests[-1]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["stream"] is True
    assert request["body"]["messages"] == MESSAGES
    assert request["body"]["model"] == "glm-4-9b-chat"
    assert request["body"]["max_tokens"] == 32
    assert request["auth"] == "Bearer sk-test"
    assert extract_citations(generate(gen, MESSAGES)) == ["101.jpg"]
    assert gen.name == f"openai:glm-4-9b-chat@{fake_openai.url}/v1"


def test_reads_a_non_streaming_json_answer(fake_openai):
    fake_openai.mode = "plain"
    assert generate(OpenAIGenerator(f"{fake_openai.url}/v1", "m"), MESSAGES) == "".join(PIECES)


@pytest.mark.parametrize(("mode", "needle"), [("broken", "HTTP 500"), ("error", "overloaded")])
def test_server_errors_raise_unavailable_with_the_url(fake_openai, mode, needle):
    fake_openai.mode = mode
    gen = OpenAIGenerator(f"{fake_openai.url}/v1", "m")
    with pytest.raises(GeneratorUnavailable, match=needle) as info:
        list(gen.stream(MESSAGES))
    assert f"{fake_openai.url}/v1/chat/completions" in str(info.value)


def test_connection_refused_raises_unavailable_with_the_url(dead_url):
    with pytest.raises(GeneratorUnavailable, match="cannot reach") as info:
        list(OpenAIGenerator(dead_url, "m", timeout=5).stream(MESSAGES))
    assert f"{dead_url}/chat/completions" in str(info.value)
    assert "TUWEN_LLM_BASE_URL" in str(info.value)


def test_constructor_validates_its_arguments():
    with pytest.raises(ValueError, match="http:// or https://"):
        OpenAIGenerator("localhost:8000", "m")
    with pytest.raises(ValueError, match="TUWEN_LLM_MODEL"):
        OpenAIGenerator("http://localhost:8000/v1", "")
