from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service.citations import extract_citations
from service.llm import (
    AnswerContext,
    ExtractiveGenerator,
    FallbackGenerator,
    GeneratorUnavailable,
    OpenAIGenerator,
    generate,
    make_generator,
)
from service.router import Route

PIECES = ["图中商品", "是黑色的。", "[101.jpg]"]
MESSAGES = [
    {"role": "system", "content": "只用中文回答。"},
    {"role": "user", "content": "什么颜色？"},
]


class FakeOpenAI(BaseHTTPRequestHandler):
    """/v1 streams PIECES over SSE; /plain answers one JSON; /broken 500; /error an SSE error."""

    requests: list[dict] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        if self.path.startswith("/broken"):
            self._send(500, "application/json", b'{"error": "model not loaded"}')
        elif self.path.startswith("/plain"):
            answer = {"choices": [{"message": {"role": "assistant", "content": "".join(PIECES)}}]}
            self._send(200, "application/json", json.dumps(answer).encode())
        elif self.path.startswith("/error"):
            self._send(200, "text/event-stream", b'data: {"error": {"message": "overloaded"}}\n\n')
        else:
            chunks = [{"choices": [{"delta": {"role": "assistant"}}]}]
            chunks += [{"choices": [{"delta": {"content": p}}]} for p in PIECES]
            chunks += [{"choices": [{"delta": {}, "finish_reason": "stop"}]}]
            sse = "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks)
            self._send(
                200, "text/event-stream", (": keep-alive\n\n" + sse + "data: [DONE]\n\n").encode()
            )

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens here any more


def test_streams_sse_pieces(server):
    FakeOpenAI.requests.clear()
    gen = OpenAIGenerator(f"{server}/v1/", "glm-4-9b-chat", api_key="sk-test")
    pieces = list(gen.stream(MESSAGES, max_new_tokens=32))
    assert pieces == PIECES
    request = FakeOpenAI.requests[-1]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["stream"] is True
    assert request["body"]["messages"] == MESSAGES
    assert request["body"]["model"] == "glm-4-9b-chat"
    assert request["body"]["max_tokens"] == 32
    assert request["auth"] == "Bearer sk-test"
    assert extract_citations(generate(gen, MESSAGES)) == ["101.jpg"]


def test_reads_a_non_streaming_json_answer(server):
    assert generate(OpenAIGenerator(f"{server}/plain", "m"), MESSAGES) == "".join(PIECES)


@pytest.mark.parametrize(("path", "needle"), [("/broken", "HTTP 500"), ("/error", "overloaded")])
def test_server_errors_raise_unavailable_with_the_url(server, path, needle):
    gen = OpenAIGenerator(f"{server}{path}", "m")
    with pytest.raises(GeneratorUnavailable, match=needle) as info:
        list(gen.stream(MESSAGES))
    assert f"{server}{path}/chat/completions" in str(info.value)


def test_connection_refused_raises_unavailable_with_the_url(dead_url):
    with pytest.raises(GeneratorUnavailable, match="cannot reach") as info:
        list(OpenAIGenerator(dead_url, "m", timeout=5).stream(MESSAGES))
    assert f"{dead_url}/chat/completions" in str(info.value)


def test_fallback_to_extractive_when_the_server_is_down(dead_url, hits, caplog):
    gen = make_generator("openai", base_url=dead_url, model="m", timeout=5)
    assert isinstance(gen, FallbackGenerator) and not gen.fell_back
    context = AnswerContext(Route("attribute", "color"), hits)
    with caplog.at_level(logging.WARNING, logger="service.llm"):
        first = generate(gen, MESSAGES, context=context)
        second = generate(gen, MESSAGES, context=context)
    assert first == second == "图中商品是黑色的。[101.jpg][102.jpg]"
    assert gen.fell_back
    assert gen.name.startswith("extractive (fallback: cannot reach")
    assert dead_url in gen.name
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


def test_working_server_is_used_through_the_fallback_wrapper(server, hits):
    gen = make_generator("openai", base_url=f"{server}/v1", model="m")
    context = AnswerContext(Route("attribute", "color"), hits)
    assert generate(gen, MESSAGES, context=context) == "".join(PIECES)
    assert gen.name == f"openai:m@{server}/v1"


def test_failure_after_text_was_streamed_is_not_hidden():
    class Flaky:
        name = "flaky"

        def stream(self, messages, max_new_tokens=256, *, context=None):
            yield "半句"
            raise GeneratorUnavailable("connection dropped")

    gen = FallbackGenerator(Flaky())
    with pytest.raises(GeneratorUnavailable, match="dropped"):
        generate(gen, MESSAGES)
    assert not gen.fell_back


def test_factory_and_constructor_validate_settings():
    assert isinstance(make_generator("extractive"), ExtractiveGenerator)
    with pytest.raises(ValueError, match="unknown LLM backend"):
        make_generator("gpt")
    with pytest.raises(ValueError, match="needs base_url"):
        make_generator("openai", model="m")
    with pytest.raises(ValueError, match="http:// or https://"):
        OpenAIGenerator("localhost:8000", "m")
    plain = make_generator("openai", base_url="http://127.0.0.1:9/v1", model="m", fallback=False)
    assert isinstance(plain, OpenAIGenerator)


def test_extractive_generator_requires_context():
    with pytest.raises(ValueError, match="needs context=AnswerContext"):
        list(ExtractiveGenerator().stream(MESSAGES))
