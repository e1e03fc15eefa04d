"""The group-commit writer on PostgreSQL: one statement stores a run's events, their audit copy,
node states and checkpoint history; a bad batch fails alone; a chain commits once per node."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from audit.models import AuditEntry
from graphs import services
from graphs.adapters import RunRecorder
from graphs.execution import execute_run
from graphs.models import Checkpoint, NodeState, Run, RunEvent
from graphs.writer import WRITER, GroupCommitWriter, _Job
from tests.helpers import chain

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(user):
    graph = services.graph_create(owner=user, name="g", spec=chain(2)).graph
    with transaction.atomic():
        run = services.run_start(graph=graph, user=user, inputs={"task": "t"}, dry_run=True)
        transaction.get_connection().run_on_commit.clear()  # not sent to a broker: these tests drive it
    return run


def _record(run_id: int, steps) -> None:
    async def go() -> None:
        recorder = RunRecorder(run_id)
        await recorder.load(str(run_id))
        for step in steps:
            await step(recorder)
        await recorder.close()

    asyncio.run(go())


def test_events_audit_states_and_history_are_stored_together(run):
    assert connection.vendor == "postgresql"
    state = {"status": "succeeded", "outputs": {"result": "done"}, "llm_calls": []}

    async def node(recorder: RunRecorder) -> None:
        await recorder.emit(str(run.pk), "pre_node", "s1", {"kind": "agent", "attempt": 1})
        recorder.flush_soon()
        await recorder.save(str(run.pk), "s1", {**state, "status": "running"})  # a journal save: no history row
        await recorder.emit(str(run.pk), "post_node", "s1", {"status": "succeeded", "duration_ms": 3})
        await recorder.save(str(run.pk), "s1", state)

    _record(run.pk, [node])
    assert list(RunEvent.objects.filter(run=run).values_list("seq", "event", "node_id")) == [
        (1, "pre_node", "s1"), (2, "post_node", "s1")]
    audit = list(AuditEntry.objects.filter(run_id=run.pk, object_type="run").exclude(event="run.started").order_by("id"))
    assert [(a.event, a.status, a.node_id, a.graph_id) for a in audit] == [
        ("pre_node", "running", "s1", run.graph_id), ("post_node", "succeeded", "s1", run.graph_id)]
    assert audit[1].data == {"status": "succeeded", "duration_ms": 3, "node_kind": "agent"}
    assert audit[1].summary.startswith("succeeded in 3 ms")
    assert NodeState.objects.get(run=run, node_id="s1").data == state
    assert list(Checkpoint.objects.filter(run=run).values_list("node_id", "status")) == [("s1", "succeeded")]


def test_nul_characters_are_stored_not_fatal(run):
    """jsonb refuses U+0000: an LLM answer carrying one must not lose the batch (or the run)."""

    async def node(recorder: RunRecorder) -> None:
        await recorder.emit(str(run.pk), "post_llm_call", "s1", {"answer": "a\x00b", "k\x00": 1})
        await recorder.save(str(run.pk), "s1", {"status": "succeeded", "outputs": {"result": "x\x00y"}})

    _record(run.pk, [node])
    assert RunEvent.objects.get(run=run, seq=1).data == {"answer": "a\ufffdb", "k\ufffd": 1}
    assert NodeState.objects.get(run=run, node_id="s1").data["outputs"] == {"result": "x\ufffdy"}


def test_a_bad_batch_fails_alone(run):
    """Two runs' batches in one commit, one of them for a run that does not exist: the good one is
    stored, only the bad one's future fails."""
    writer = GroupCommitWriter()
    loop = asyncio.new_event_loop()
    now = datetime.now(UTC)
    good, bad = loop.create_future(), loop.create_future()
    writer._queue.put(_Job(run.pk, [RunEvent(run_id=run.pk, seq=1, event="pre_node", node_id="s1", created_at=now,
                                             data={})], {}, loop, good))
    writer._queue.put(_Job(10**12, [RunEvent(run_id=10**12, seq=1, event="pre_node", node_id="s1", created_at=now,
                                             data={})], {}, loop, bad))
    writer._ensure_thread()  # starts with both queued: they share the first commit, which fails

    async def outcome():
        return await asyncio.gather(good, bad, return_exceptions=True)

    try:
        ok, failed = loop.run_until_complete(asyncio.wait_for(outcome(), 10))
    finally:
        loop.close()
    assert ok is None and isinstance(failed, Exception)
    assert RunEvent.objects.filter(run=run).count() == 1


def test_a_chain_commits_once_per_node(user, settings):
    """The answer, the checkpoint and the events around them share one commit, written when the
    next node is about to call the model (not one commit for the answer and one for the node)."""
    settings.KAIZEN_SIMULATED_LATENCY_S = 0
    graph = services.graph_create(owner=user, name="g", spec=chain(20)).graph
    with transaction.atomic():
        run = services.run_start(graph=graph, user=user, inputs={"task": "t"}, dry_run=True)
        transaction.get_connection().run_on_commit.clear()
    before = WRITER.commits
    assert execute_run(run.pk) == "succeeded"
    commits = WRITER.commits - before
    assert Run.objects.get(pk=run.pk).status == "succeeded"
    assert NodeState.objects.filter(run=run, status="succeeded").count() == 20
    assert commits <= 20 + 3, commits  # (two commits per node before: 40+)
