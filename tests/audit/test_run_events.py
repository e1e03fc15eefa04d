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
        RunEvent(run=run, seq=4, event="post_node", node_id="s1", created_at=now, data={"status": "failed", "duration_ms": 9}),
    ]
    RunEvent.objects.bulk_create(events)
    record_run_events(run.pk, events)
    rows = list(AuditEntry.objects.filter(run_id=run.pk, object_type="run").exclude(event="run.started").order_by("id"))
    assert [(r.event, r.status) for r in rows] == [("pre_node", "running"), ("post_llm_call", ""), ("on_error", "failed"),
                                                  ("post_node", "failed")]
    assert {(r.graph_id, r.owner_id, r.actor_id, r.actor_name, r.node_id) for r in rows} == {(graph.pk, user.pk, user.pk, "alice", "s1")}
    assert rows[1].summary == "gpt-x 3+4 tokens $0.5: hi there" and rows[2].summary == "llm_error: 503"
    assert rows[3].data == {"status": "failed", "duration_ms": 9, "node_kind": "agent"}
