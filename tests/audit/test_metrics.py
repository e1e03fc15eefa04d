"""Per-process Prometheus instruments move when a real engine runs with the audit hook dispatcher.

The checkpoint histogram once read a key (``save_ms``) the engine never emits, so it stayed at zero
samples however many nodes ran; this runs the engine with audit.hooks' dispatcher and counts."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from audit.hooks import RunHooks
from graphs.engine.hooks import HookEvent
from tests.engine.conftest import Harness
from tests.helpers import chain


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db(transaction=True)  # the dispatcher reads the graph's hooks on its own thread
async def test_node_and_checkpoint_instruments_observe_every_node(fake_llm_server):
    fake_llm_server.reset()
    harness = Harness(fake_llm_server)
    engine = harness.engine(chain(3))
    dispatcher = RunHooks(run_id=0, graph_id=0)  # no such graph: no user hooks, only the metrics
    for event in HookEvent:
        engine.hooks.register(event, dispatcher)
    checkpoints_before = _count("kaizen_checkpoint_save_seconds_count")
    nodes_before = _count("kaizen_node_duration_seconds_count", kind="agent")
    try:
        result = await engine.run({"task": "t"})
    finally:
        for provider in harness.opened:
            await provider.aclose()
    assert result.status == "succeeded", result.error
    assert _count("kaizen_node_duration_seconds_count", kind="agent") - nodes_before == 3
    assert _count("kaizen_checkpoint_save_seconds_count") - checkpoints_before == 3
