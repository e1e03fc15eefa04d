"""Test helpers shared by the suite: graph builders and waiting on runs."""

from __future__ import annotations

import time
from typing import Any

FINAL = {"succeeded", "failed", "interrupted", "cancelled"}


def agent(node_id: str, inputs: list[str], outputs: list[str], *, x: float = 0, y: float = 0, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id, "kind": "agent", "position": {"x": x, "y": y},
        "config": {"signature": {"inputs": [{"name": n} for n in inputs], "outputs": [{"name": n} for n in outputs]}, **config},
    }


def edge(source: str, source_port: str, target: str, target_port: str, kind: str = "data") -> dict[str, Any]:
    return {"source": source, "source_port": source_port, "target": target, "target_port": target_port, "kind": kind}


def chain(n: int, **config: Any) -> dict[str, Any]:
    """@inputs.task -> s1 -> s2 -> ... -> sn -> @outputs.result; node i's prompt mentions 'step i'."""
    nodes, edges = [], []
    prev, prev_port = "@inputs", "task"
    for i in range(1, n + 1):
        nodes.append(agent(f"s{i}", ["task"], ["result"], x=i * 380, instructions=f"step {i}: {{{{task}}}}", **config))
        edges.append(edge(prev, prev_port, f"s{i}", "task"))
        prev, prev_port = f"s{i}", "result"
    edges.append(edge(prev, prev_port, "@outputs", "result"))
    return {"schema_version": 1, "inputs": {"task": {"type": "string"}}, "outputs": {"result": {"type": "string"}},
            "nodes": nodes, "edges": edges}


def wait_for_run(run_id: int, timeout: float = 30.0, statuses: set[str] = FINAL):
    """Poll the database until the run reaches one of ``statuses``."""
    from graphs.models import Run

    deadline = time.monotonic() + timeout
    while True:
        run = Run.objects.get(pk=run_id)
        if run.status in statuses:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run.status} after {timeout}s (error={run.error})")
        time.sleep(0.05)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)
