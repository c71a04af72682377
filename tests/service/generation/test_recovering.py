"""RecoveringGenerator: fail, back off without calling the backend, try again, recover."""

from __future__ import annotations

import logging

import pytest

from service.generation import GeneratorUnavailable, RecoveringGenerator, generate
from tests.service.generation.conftest import MESSAGES, FakeClock


class Backend:
    """Answers ``"ok"`` or fails as ``fail`` says; counts its calls."""

    name = "fake:model"

    def __init__(self) -> None:
        self.calls = 0
        self.fail: str | None = None
        self.fail_after_first_piece = False

    def stream(self, messages, max_new_tokens=256):
        self.calls += 1
        if self.fail and not self.fail_after_first_piece:
            raise GeneratorUnavailable(self.fail)
        yield "o"
        if self.fail:
            raise GeneratorUnavailable(self.fail)
        yield "k"


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def backend() -> Backend:
    return Backend()


def wrap(backend, clock, **kw) -> RecoveringGenerator:
    return RecoveringGenerator(lambda: backend, label="fake", clock=clock, **kw)


def test_a_healthy_backend_passes_through(backend, clock):
    gen = wrap(backend, clock)
    assert generate(gen, MESSAGES) == "ok" and gen.name == "fake:model"
    assert gen.status() == {
        "backend": "fake:model",
        "state": "ok",
        "loaded": True,
        "failures": 0,
        "failures_total": 0,
        "last_error": None,
        "retry_in_s": 0.0,
    }


def test_after_a_failure_calls_are_refused_until_the_back_off_ends(backend, clock, caplog):
    gen = wrap(backend, clock, retry_s=10, retry_max_s=100)
    backend.fail = "server at http://x/v1 answered HTTP 500"
    with (
        caplog.at_level(logging.WARNING, logger="service.generation.recovering"),
        pytest.raises(GeneratorUnavailable, match="HTTP 500"),
    ):
        generate(gen, MESSAGES)
    assert "next try in 10 s" in caplog.text
    assert backend.calls == 1
    status = gen.status()
    assert status["state"] == "backoff" and status["failures"] == 1
    assert status["last_error"] == "server at http://x/v1 answered HTTP 500"
    assert status["retry_in_s"] == 10

    backend.fail = None  # recovered, but the back-off is not over: not asked
    clock.advance(9.5)
    with pytest.raises(GeneratorUnavailable, match="HTTP 500"):
        generate(gen, MESSAGES)
    assert backend.calls == 1 and gen.status()["retry_in_s"] == 0.5

    clock.advance(0.5)
    assert generate(gen, MESSAGES) == "ok"
    assert backend.calls == 2
    status = gen.status()
    assert status["state"] == "ok" and status["failures"] == 0 and status["failures_total"] == 1


def test_the_back_off_doubles_per_failure_in_a_row_up_to_the_cap(backend, clock):
    gen = wrap(backend, clock, retry_s=10, retry_max_s=35)
    backend.fail = "down"
    waits = []
    for _ in range(4):
        with pytest.raises(GeneratorUnavailable):
            generate(gen, MESSAGES)
        waits.append(gen.status()["retry_in_s"])
        clock.advance(waits[-1])
    assert waits == [10, 20, 35, 35]
    assert backend.calls == 4 and gen.status()["failures"] == 4

    for _ in range(200):  # a long outage: the back-off stays finite and capped
        with pytest.raises(GeneratorUnavailable):
            generate(gen, MESSAGES)
        clock.advance(35)
    backend.fail = None
    assert generate(gen, MESSAGES) == "ok"
    # after recovery the next failure starts from retry_s again
    backend.fail = "down again"
    with pytest.raises(GeneratorUnavailable, match="down again"):
        generate(gen, MESSAGES)
    assert gen.status()["retry_in_s"] == 10


def test_a_backend_that_fails_to_load_is_loaded_again_after_the_back_off(clock):
    loads = []
    backend = Backend()

    def load():
        loads.append(1)
        if len(loads) == 1:
            raise GeneratorUnavailable("cannot load LLM 'glm': no such directory")
        return backend

    gen = RecoveringGenerator(load, label="transformers:glm", retry_s=5, clock=clock)
    status = gen.status()
    assert status["state"] == "backoff" and not status["loaded"]
    assert gen.name == "transformers:glm" and "no such directory" in status["last_error"]
    with pytest.raises(GeneratorUnavailable, match="no such directory"):
        generate(gen, MESSAGES)
    assert len(loads) == 1  # not retried during the back-off

    clock.advance(5)
    assert generate(gen, MESSAGES) == "ok"
    assert len(loads) == 2 and gen.name == "fake:model" and gen.status()["loaded"]
    assert generate(gen, MESSAGES) == "ok" and len(loads) == 2  # loaded once


def test_only_one_call_tries_the_backend_after_the_back_off(backend, clock):
    gen = wrap(backend, clock, retry_s=5)
    backend.fail = "down"
    with pytest.raises(GeneratorUnavailable):
        generate(gen, MESSAGES)
    clock.advance(5)
    backend.fail = None
    concurrent: list[str] = []
    real_stream = backend.stream

    def stream(messages, max_new_tokens=256):
        # a second request arriving while this trial has not answered yet is refused
        try:
            concurrent.append(generate(gen, MESSAGES))
        except GeneratorUnavailable as e:
            concurrent.append(f"refused: {e}")
        yield from real_stream(messages, max_new_tokens)

    backend.stream = stream
    assert generate(gen, MESSAGES) == "ok"
    assert concurrent == ["refused: down"]
    assert gen.status()["state"] == "ok"


def test_a_failure_after_the_first_piece_is_raised_and_counted(backend, clock):
    gen = wrap(backend, clock)
    backend.fail, backend.fail_after_first_piece = "connection dropped", True
    pieces = []
    with pytest.raises(GeneratorUnavailable, match="dropped"):
        for piece in gen.stream(MESSAGES):
            pieces.append(piece)
    assert pieces == ["o"] and gen.status()["state"] == "backoff"


def test_an_unexpected_error_during_the_trial_leaves_the_back_off_state(backend, clock):
    gen = wrap(backend, clock, retry_s=5)
    backend.fail = "down"
    with pytest.raises(GeneratorUnavailable):
        generate(gen, MESSAGES)
    clock.advance(5)
    backend.fail = None

    def buggy(messages, max_new_tokens=256):
        raise KeyError("bug")
        yield  # pragma: no cover

    real_stream, backend.stream = backend.stream, buggy
    with pytest.raises(KeyError):
        generate(gen, MESSAGES)
    assert gen.status()["failures"] == 1  # not counted as the backend being down...
    backend.stream = real_stream
    assert generate(gen, MESSAGES) == "ok"  # ...and the next call may try at once


def test_retry_settings_are_checked():
    with pytest.raises(ValueError, match="TUWEN_LLM_RETRY_S"):
        RecoveringGenerator(Backend, label="x", retry_s=0)
    with pytest.raises(ValueError, match="TUWEN_LLM_RETRY_MAX_S"):
        RecoveringGenerator(Backend, label="x", retry_s=10, retry_max_s=5)
