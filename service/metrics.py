"""Prometheus metrics: request counts and per-stage latency histograms (one registry per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tuwen_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "tuwen_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "tuwen_stage_seconds",
            "answer latency per stage (route, encode, search, prompt, generate)",
            ["stage"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe_answer(self, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self.stages.labels(stage).observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
