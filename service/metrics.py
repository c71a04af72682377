"""Prometheus metrics: request counts, per-stage latency histograms and the LLM backend's
state (one registry per app)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
        self.llm_up = Gauge(
            "tuwen_llm_up",
            "1 while the LLM backend is usable, 0 during the back-off after a failure",
            ["backend"],
            registry=self.registry,
        )
        self.llm_failures = Gauge(
            "tuwen_llm_failures",
            "LLM backend failures in a row (0 once a call succeeds)",
            ["backend"],
            registry=self.registry,
        )
        self.llm_retry_in = Gauge(
            "tuwen_llm_retry_in_seconds",
            "seconds until the LLM backend is tried again after a failure",
            ["backend"],
            registry=self.registry,
        )
        self.query_cache = Gauge(
            "tuwen_query_cache",
            "query text vector cache: lookups that hit and missed, texts held, capacity",
            ["what"],
            registry=self.registry,
        )
        self.query_cache_hit_rate = Gauge(
            "tuwen_query_cache_hit_rate",
            "share of query text lookups answered from the cache since start",
            registry=self.registry,
        )

    def observe_cache(self, cache: Any) -> None:
        """Set the query cache gauges from a :class:`~service.answering.query_cache.QueryCache`."""
        for what, value in (
            ("hits", cache.hits),
            ("misses", cache.misses),
            ("size", len(cache)),
            ("capacity", cache.size),
        ):
            self.query_cache.labels(what).set(value)
        self.query_cache_hit_rate.set(cache.hit_rate)

    def observe_llm(self, status: dict[str, Any] | None) -> None:
        """Set the LLM gauges from a generator's ``status()`` (``None``: no LLM, no samples).

        Only the current backend has samples: its name changes once it loads (from the label
        it had while it could not), and an old name's samples must not linger.
        """
        for gauge in (self.llm_up, self.llm_failures, self.llm_retry_in):
            gauge.clear()
        if not status:
            return
        backend = str(status.get("backend", "unknown"))
        self.llm_up.labels(backend).set(0 if status.get("state") == "backoff" else 1)
        self.llm_failures.labels(backend).set(status.get("failures") or 0)
        self.llm_retry_in.labels(backend).set(status.get("retry_in_s") or 0.0)

    def observe_answer(self, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self.stages.labels(stage).observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
