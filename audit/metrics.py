"""Prometheus metrics.

Per-process instruments (node duration by kind, LLM latency, checkpoint save time, events
published) are observed where the work happens, in the workers; set PROMETHEUS_MULTIPROC_DIR
(the same directory for web and worker processes on a host) and /metrics adds them up.
Run, token and cost figures are read from the database at scrape time (``DatabaseCollector``),
so any web process tells the truth however many workers there are.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

NODE_SECONDS = Histogram("kaizen_node_duration_seconds", "Node execution time, by node kind", ["kind"],
                         buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
LLM_SECONDS = Histogram("kaizen_llm_latency_seconds", "LLM call latency, by model", ["model"],
                        buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64))
# The engine hands a checkpoint to the store and goes on (the store commits it with the run's next
# batch of events), so what it reports, and this measures, is the time to queue the save.
CHECKPOINT_SECONDS = Histogram("kaizen_checkpoint_save_seconds", "Time to queue one node checkpoint for saving",
                               buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
EVENTS = Counter("kaizen_events_published_total", "Run events stored and published, by event", ["event"])
HOOK_DELIVERIES = Counter("kaizen_hook_deliveries_total", "Webhook delivery attempts, by outcome", ["outcome"])


def events_counted(tally: Mapping[str, int]) -> None:
    for event, n in tally.items():
        EVENTS.labels(event).inc(n)


def observe_hook_event(event: str, data: dict[str, Any], kind: str | None) -> None:
    """Called by the run's hook dispatcher (audit.hooks) for every engine event."""
    if event == "post_node" and data.get("duration_ms") is not None:
        NODE_SECONDS.labels(kind or "unknown").observe(float(data["duration_ms"]) / 1000)
    elif event == "post_llm_call" and not data.get("replayed") and data.get("latency_ms") is not None:
        LLM_SECONDS.labels(str(data.get("model") or "unknown")).observe(float(data["latency_ms"]) / 1000)
    elif event == "post_checkpoint_save" and data.get("queue_ms") is not None:
        CHECKPOINT_SECONDS.observe(float(data["queue_ms"]) / 1000)


class DatabaseCollector(Collector):
    """Runs by status and LLM tokens/cost by model, from the database (cached a few seconds)."""

    ttl_s = 10.0

    def __init__(self, user: Any = None) -> None:
        self.user = user  # None: the whole deployment's; a user: their workspaces' (never cached)
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Any]] | None = None

    def collect(self):
        with self._lock:
            if self.user is not None:
                return self._families()
            if self._cached is None or time.monotonic() - self._cached[0] > self.ttl_s:
                self._cached = (time.monotonic(), self._families())
            return list(self._cached[1])

    def _families(self) -> list[Any]:
        from . import selectors

        runs = GaugeMetricFamily("kaizen_runs", "Runs in the database, by status", labels=["status"])
        for status, n in selectors.runs_by_status(self.user).items():
            runs.add_metric([status], n)
        tokens = CounterMetricFamily("kaizen_llm_tokens", "LLM tokens used, by model and type", labels=["model", "type"])
        cost = CounterMetricFamily("kaizen_llm_cost_usd", "LLM cost in USD, by model", labels=["model"])
        calls = CounterMetricFamily("kaizen_llm_calls", "LLM calls made (not replayed), by model", labels=["model"])
        for row in selectors.llm_usage_by_model(user=self.user):
            tokens.add_metric([row["model"], "prompt"], row["prompt_tokens"])
            tokens.add_metric([row["model"], "completion"], row["completion_tokens"])
            cost.add_metric([row["model"]], row["cost_usd"])
            calls.add_metric([row["model"]], row["calls"])
        return [runs, tokens, cost, calls]


_database = DatabaseCollector()


def render(user: Any = None) -> tuple[bytes, str]:
    """The /metrics body: this process's (or all processes') instruments plus database figures;
    for a ``user``, only the database figures of their workspaces."""
    if user is not None:
        db_registry = CollectorRegistry()
        db_registry.register(DatabaseCollector(user))
        return generate_latest(db_registry), CONTENT_TYPE_LATEST
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        process_part = generate_latest(registry)
    else:
        process_part = generate_latest(REGISTRY)
    db_registry = CollectorRegistry()
    db_registry.register(_database)
    return process_part + generate_latest(db_registry), CONTENT_TYPE_LATEST
