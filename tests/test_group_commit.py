"""The group-commit writer on PostgreSQL: one statement stores a run's events, their audit copy,
node states and checkpoint history; a bad batch fails alone; a chain commits once per node."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from audit.models import AuditEntry
from graphs import services
from graphs.engine.ports import ClaimLost
from graphs.models import Checkpoint, NodeState, Run, RunEvent
from graphs.runner.adapters import RunRecorder
from graphs.runner.execution import execute_run
from graphs.runner.writer import WRITER, GroupCommitWriter, _Job
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
        await recorder.queue_save(str(run.pk), "s1", {**state, "status": "running"})  # a journal save: no history row
        # (the engine's post_node names the node's kind: the audit row takes it from there)
        await recorder.emit(str(run.pk), "post_node", "s1", {"status": "succeeded", "duration_ms": 3, "kind": "agent"})
        await recorder.queue_save(str(run.pk), "s1", state)

    _record(run.pk, [node])
    assert list(RunEvent.objects.filter(run=run).values_list("seq", "event", "node_id")) == [
        (1, "pre_node", "s1"), (2, "post_node", "s1")]
    audit = list(AuditEntry.objects.filter(run_id=run.pk, object_type="run").exclude(event="run.started").order_by("id"))
    assert [(a.event, a.status, a.node_id, a.graph_id) for a in audit] == [
        ("pre_node", "running", "s1", run.graph_id), ("post_node", "succeeded", "s1", run.graph_id)]
    assert audit[1].data == {"status": "succeeded", "duration_ms": 3, "kind": "agent", "node_kind": "agent"}
    assert audit[1].summary.startswith("succeeded in 3 ms")
    assert NodeState.objects.get(run=run, node_id="s1").data == state
    assert list(Checkpoint.objects.filter(run=run).values_list("node_id", "status")) == [("s1", "succeeded")]


def test_nul_characters_are_stored_not_fatal(run):
    """jsonb refuses U+0000: an LLM answer carrying one must not lose the batch (or the run)."""

    async def node(recorder: RunRecorder) -> None:
        await recorder.emit(str(run.pk), "post_llm_call", "s1", {"answer": "a\x00b", "k\x00": 1})
        await recorder.queue_save(str(run.pk), "s1", {"status": "succeeded", "outputs": {"result": "x\x00y"}})

    _record(run.pk, [node])
    assert RunEvent.objects.get(run=run, seq=1).data == {"answer": "a\ufffdb", "k\ufffd": 1}
    assert NodeState.objects.get(run=run, node_id="s1").data["outputs"] == {"result": "x\ufffdy"}


def test_event_data_is_made_json_once_and_stored_alike_in_the_event_and_its_audit_copy(run):
    """The recorder serializes an event's data once (unknown objects as strings, NaN and Infinity
    as null, NUL as U+FFFD); the event row, its audit copy and the stream all take that text."""
    from graphs.events import stream_event

    class Odd:
        def __str__(self) -> str:
            return "odd!"

    seen = []

    async def node(recorder: RunRecorder) -> None:
        await recorder.emit(str(run.pk), "post_llm_call", "s1",
                            {"x": float("nan"), "y": [float("inf"), 1.5], "o": Odd(), "t": "a\x00b", "n": {"1": None}})
        seen.extend(recorder._events)

    _record(run.pk, [node])
    want = {"x": None, "y": [None, 1.5], "o": "odd!", "t": "a\ufffdb", "n": {"1": None}}
    assert RunEvent.objects.get(run=run, seq=1).data == want
    assert AuditEntry.objects.get(run_id=run.pk, event="post_llm_call").data == want
    assert seen[0].data == want and stream_event(seen[0])["data"] == want


def test_the_writer_stores_the_recorded_text_not_a_second_serialization(run):
    """pg_params splices a PendingEvent's text in (the data object is not serialized again): a
    text that differs from the object is what lands, in the event row and in its audit copy."""
    from graphs.runner.writer import PendingEvent

    ev = PendingEvent(run.pk, 1, "post_llm_call", "s1", datetime.now(UTC), {"made": "object"}, '{"made": "text"}')
    assert _commit_directly((run.pk, run.epoch, [ev])) == [None]
    assert RunEvent.objects.get(run=run, seq=1).data == {"made": "text"}
    assert AuditEntry.objects.get(run_id=run.pk, event="post_llm_call").data == {"made": "text"}


def _commit_directly(*jobs_spec):
    """Queue (run_id, epoch, events) batches on a fresh writer together; their outcomes."""
    writer = GroupCommitWriter()
    loop = asyncio.new_event_loop()
    futures = []
    for run_id, epoch, events in jobs_spec:
        future = loop.create_future()
        futures.append(future)
        writer._queue.put(_Job(run_id, epoch, events, {}, loop, future))
    writer._ensure_thread()  # starts with all of them queued: they share the first commit

    async def outcome():
        return await asyncio.gather(*futures, return_exceptions=True)

    try:
        return loop.run_until_complete(asyncio.wait_for(outcome(), 10))
    finally:
        loop.close()


def _event(run_id: int, seq: int, node_id: str = "s1") -> RunEvent:
    return RunEvent(run_id=run_id, seq=seq, event="pre_node", node_id=node_id, created_at=datetime.now(UTC), data={})


def test_a_bad_batch_fails_alone(run, user):
    """Two runs' batches in one commit, one of them refused by the database for its data: the
    good one is stored, only the bad one's future fails."""
    graph = services.graph_create(owner=user, name="g2", spec=chain(1)).graph
    other = Run.objects.create(graph=graph, version=graph.versions.get(), inputs={})
    ok, failed = _commit_directly((run.pk, run.epoch, [_event(run.pk, 1)]),
                                  (other.pk, other.epoch, [_event(other.pk, 1, node_id="x" * 500)]))
    assert ok is None and isinstance(failed, Exception) and not isinstance(failed, ClaimLost)
    assert RunEvent.objects.filter(run=run).count() == 1 and RunEvent.objects.filter(run=other).count() == 0


def test_a_stale_epoch_writes_nothing(run, user):
    """Fencing: a batch written under an epoch that is no longer the run's is refused whole (its
    events, audit copy and node states), in the same statement that stores another run's."""
    graph = services.graph_create(owner=user, name="g2", spec=chain(1)).graph
    other = Run.objects.create(graph=graph, version=graph.versions.get(), inputs={})
    Run.objects.filter(pk=run.pk).update(epoch=run.epoch + 1)  # another worker claimed it
    stale, current = _commit_directly((run.pk, run.epoch, [_event(run.pk, 1)]),
                                      (other.pk, other.epoch, [_event(other.pk, 1)]))
    assert isinstance(stale, ClaimLost) and current is None
    assert RunEvent.objects.filter(run=run).count() == 0 and RunEvent.objects.filter(run=other).count() == 1
    assert not AuditEntry.objects.filter(run_id=run.pk, event="pre_node").exists()
    assert AuditEntry.objects.filter(run_id=other.pk, event="pre_node").count() == 1
    fresh, = _commit_directly((run.pk, run.epoch + 1, [_event(run.pk, 1)]))
    assert fresh is None and RunEvent.objects.filter(run=run).count() == 1


def test_recorder_stops_for_good_once_fenced_out(run):
    """The recorder learns on its next write that the run was claimed by someone else; from then
    on every emit, save and ensure_current raises ClaimLost, and nothing more is written."""
    outcome = {}

    async def go() -> None:
        recorder = RunRecorder(run.pk, run.epoch)
        await recorder.load(str(run.pk))
        await recorder.emit(str(run.pk), "pre_node", "s1", {})
        await recorder.queue_save(str(run.pk), "s1", {"status": "running"})
        await recorder.db(lambda: Run.objects.filter(pk=run.pk).update(epoch=run.epoch + 1))
        await recorder.emit(str(run.pk), "post_node", "s1", {})
        try:
            await recorder.queue_save(str(run.pk), "s1", {"status": "succeeded"})
        except ClaimLost as exc:
            outcome["save"] = exc
        for name, call in [("emit", recorder.emit(str(run.pk), "x", None, {})), ("ensure", recorder.ensure_current())]:
            try:
                await call
            except ClaimLost as exc:
                outcome[name] = exc
        outcome["heartbeat"] = await recorder.heartbeat()
        await recorder.close()

    asyncio.run(go())
    assert set(outcome) == {"save", "emit", "ensure", "heartbeat"} and outcome["heartbeat"] is False
    assert list(RunEvent.objects.filter(run=run).values_list("event", flat=True)) == ["pre_node"]
    assert NodeState.objects.get(run=run, node_id="s1").status == "running"


def test_a_claim_takes_a_new_epoch_and_is_exclusive(run):
    from graphs.runner.claim import claim

    first = claim(run.pk, "w1")
    assert first == run.epoch + 1
    assert claim(run.pk, "w2") is None, "held: nobody else may claim it"
    Run.objects.filter(pk=run.pk).update(lease_owner="")  # released (a handoff)
    assert claim(run.pk, "w2") == first + 1


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
    assert commits <= 20 + 8, commits  # (two commits per node before: 40+; a loaded machine splits a few)


def _prepared_group_commits() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%WITH claims AS%"])
        return cursor.fetchone()[0]


def test_the_group_commit_is_prepared_on_the_server_unless_turned_off(run, settings):
    """Planning the fenced statement cost as much as running it: from its second execution on a
    connection it is a prepared statement (KAIZEN_DB_PREPARED=0 for an old PgBouncer: never)."""
    from audit.services import RUN_EVENT_COPY, run_event_rows
    from graphs.runner import writer

    def commit(seq: int) -> None:
        events = [_event(run.pk, seq)]
        params = writer.pg_params({run.pk: run.epoch}, events, run_event_rows({run.pk: events}), {}, {}, RUN_EVENT_COPY)
        with writer.prepared_cursor() as cursor:
            cursor.execute(writer.group_commit_sql(RUN_EVENT_COPY), params)
            assert cursor.fetchall() == []  # (not fenced out)

    settings.KAIZEN_DB_PREPARED = True
    with writer.prepared_cursor() as cursor:  # (a pooled connection may hold an earlier test's; psycopg forgets them too)
        cursor.execute("DEALLOCATE ALL")
    assert _prepared_group_commits() == 0
    connection.connection.prepare_threshold = None  # (as a connection the pool opens)
    settings.KAIZEN_DB_PREPARED = False
    commit(1), commit(2), commit(3)
    assert _prepared_group_commits() == 0
    settings.KAIZEN_DB_PREPARED = True
    commit(4), commit(5)
    assert _prepared_group_commits() == 1
    assert list(RunEvent.objects.filter(run=run).values_list("seq", flat=True).order_by("seq")) == [1, 2, 3, 4, 5]
