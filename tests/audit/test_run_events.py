"""The run-event copy: one entry per RunEvent, with the run's graph, owner and actor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audit.models import AuditEntry
from audit.services import record_run_events
from graphs import services
from graphs.models import RunEvent
from tests.helpers import chain

pytestmark = pytest.mark.django_db


def test_events_are_copied_with_their_context(user):
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    now = datetime.now(UTC)
    events = [
        RunEvent(run=run, seq=1, event="pre_node", node_id="s1", created_at=now, data={"kind": "agent", "attempt": 1}),
        RunEvent(run=run, seq=2, event="post_llm_call", node_id="s1", created_at=now,
                 data={"model": "gpt-x", "prompt_tokens": 3, "completion_tokens": 4, "cost_usd": 0.5, "answer": "hi there"}),
        RunEvent(run=run, seq=3, event="on_error", node_id="s1", created_at=now, data={"type": "llm_error", "message": "503"}),
        RunEvent(run=run, seq=4, event="post_node", node_id="s1", created_at=now, data={"kind": "agent", "status": "failed", "duration_ms": 9}),
        RunEvent(run=run, seq=5, event="run_finished", created_at=now,
                 data={"status": "failed", "cost_usd": 8.04e-05, "prompt_tokens": 200, "completion_tokens": 78}),
    ]
    RunEvent.objects.bulk_create(events)
    record_run_events(run.pk, events)
    rows = list(AuditEntry.objects.filter(run_id=run.pk, object_type="run").exclude(event="run.started").order_by("id"))
    assert [(r.event, r.status) for r in rows] == [("pre_node", "running"), ("post_llm_call", ""), ("on_error", "failed"),
                                                  ("post_node", "failed"), ("run_finished", "failed")]
    assert {(r.graph_id, r.owner_id, r.actor_id, r.actor_name, r.node_id) for r in rows[:4]} == {(graph.pk, user.pk, user.pk, "alice", "s1")}
    assert rows[1].summary == "gpt-x 3+4 tokens $0.50: hi there" and rows[2].summary == "llm_error: 503"
    assert rows[4].summary == "failed, $0.0000804, 278 tokens", "a small cost in digits, not 8.04e-05"
    assert rows[3].data == {"kind": "agent", "status": "failed", "duration_ms": 9, "node_kind": "agent"}


def test_a_resuming_workers_post_node_rows_name_the_kind(user):
    """A node started on one worker and finished on another: the second process never saw its
    pre_node, yet its post_node row names the kind (the event carries it; no per-process memory)."""
    import asyncio

    from audit import services as audit_services
    from graphs.engine.llm import ProviderRegistry
    from graphs.engine.llm.simulated import SimulatedProvider
    from graphs.engine.ports import MemoryCheckpointStore, MemoryEventSink
    from graphs.engine.runtime import Engine

    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    sink = MemoryEventSink()
    engine = Engine(chain(1), run_id=str(run.pk), providers=ProviderRegistry({"simulated": SimulatedProvider()}, "simulated"),
                    checkpoints=MemoryCheckpointStore(), events=sink)
    assert asyncio.run(engine.run({"task": "t"})).status == "succeeded"
    post = next(e for e in sink.events if e["event"] == "post_node")
    audit_services._runs.clear()  # this process knows nothing of the run yet
    event = RunEvent(run=run, seq=1, event="post_node", node_id="s1", created_at=datetime.now(UTC), data=post["data"])
    RunEvent.objects.bulk_create([event])
    record_run_events(run.pk, [event])
    row = AuditEntry.objects.get(run_id=run.pk, event="post_node")
    assert row.data["node_kind"] == "agent"

