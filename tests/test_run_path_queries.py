"""The database statements of one no-LLM run, end to end (issue 13: throughput regressions are
caught here by counting, not by timing).

The run path's statements run on several threads (the API's fast path hops to a thread of its
own; the worker's claim and reads run on the process's database threads, its writes on the
group-commit thread), so ``CaptureQueriesContext``, which watches one thread's connection,
cannot see them: ``statements()`` records every statement sent through Django's cursors in this
process, with the thread that sent it. The same code paths run as in production: the fast path
in front of Django's ASGI handler, and ``execute_run``, which a Celery worker's task calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.db.backends import utils

from apitokens.services import token_create
from graphs import services
from graphs.models import Run, RunEvent
from graphs.runner.execution import execute_run
from tests.test_fast_api import call

pytestmark = pytest.mark.django_db(transaction=True)

# Worker, per run (a graph's first run in a process also reads its version's spec, once): the
# claim (which also reads the graph's owner and workspace, the creator, the run's sequence,
# whether it has node states or answers, and the audit hooks' webhook settings). Plus the group
# commits (events, node states and the final row: batched; a no-LLM run's usually one, but a
# batch that waited LINGER_S for company leaves before the run ends).
WORKER_MAX = 1
# API, with the caller's token remembered: POST = the graph with the caller's role and its latest
# version's declared inputs, then the run and its audit entry inserted in one statement; GET ?wait
# of a live run = the run with the caller's role (to know whether to wait), then the run and its
# node states for the answer.
POST_MAX = 2
GET_WAIT_MAX = 3


def join_chain(n: int) -> dict:
    """``@inputs -> j0 -> ... -> j{n-1} -> @outputs``: no-op nodes, no LLM."""
    nodes, edges, prev, port = [], [], "@inputs", "task"
    for i in range(n):
        nodes.append({"id": f"j{i}", "kind": "join", "position": {"x": i * 300, "y": 0},
                      "config": {"inputs": [{"name": "a", "type": "any", "required": False}]}})
        edges.append({"source": prev, "source_port": port, "target": f"j{i}", "target_port": "a", "kind": "data"})
        prev, port = f"j{i}", "first"
    edges.append({"source": prev, "source_port": port, "target": "@outputs", "target_port": "result", "kind": "data"})
    return {"schema_version": 1, "inputs": {"task": {"type": "string"}}, "outputs": {"result": {"type": "any"}},
            "nodes": nodes, "edges": edges}


class Statements(list):
    """(thread name, SQL) of every statement sent meanwhile."""

    def on(self, prefix: str) -> list[str]:
        return [sql for thread, sql in self if thread.startswith(prefix)]

    def off(self, prefix: str) -> list[str]:
        return [sql for thread, sql in self if not thread.startswith(prefix)]


@contextlib.contextmanager
def statements() -> Iterator[Statements]:
    seen = Statements()
    original = utils.CursorWrapper._execute_with_wrappers

    def recording(self, sql, params, many, executor):
        seen.append((threading.current_thread().name, sql))
        return original(self, sql, params, many, executor)

    utils.CursorWrapper._execute_with_wrappers = recording
    try:
        yield seen
    finally:
        utils.CursorWrapper._execute_with_wrappers = original


def group_commit(sql: str) -> bool:
    return sql.lstrip().startswith("WITH claims AS")


def worker_statements(graph, user) -> tuple[list[str], list[str], int]:
    """(statements other than group commits, group commits, events written) of one run."""
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    with statements() as seen:
        assert execute_run(run.pk) == "succeeded", Run.objects.get(pk=run.pk).error
    others = [sql for _thread, sql in seen if not group_commit(sql)]
    commits = [sql for _thread, sql in seen if group_commit(sql)]
    return others, commits, RunEvent.objects.filter(run=run).count()


def test_a_run_makes_the_same_few_statements_on_the_worker_whatever_its_size(user):
    small = services.graph_create(owner=user, name="3 nodes", spec=join_chain(3)).graph
    big = services.graph_create(owner=user, name="12 nodes", spec=join_chain(12)).graph
    first, _, _ = worker_statements(small, user)
    assert len(first) <= WORKER_MAX + 1, first  # (+ the version's spec, read once per process)
    assert sum('"spec"' in sql for sql in first) == 1, first

    others, commits, events = worker_statements(small, user)
    assert len(others) <= WORKER_MAX, others
    assert not [sql for sql in others if '"spec"' in sql], "a version's spec is read once per process"
    assert 1 <= len(commits) < events, (len(commits), events)  # (batched: not one per event)

    big_first, _, _ = worker_statements(big, user)
    big_others, big_commits, big_events = worker_statements(big, user)
    assert len(big_others) == len(others), ("a statement per node?", others, big_others)
    assert len(big_commits) <= big_events // 4, (len(big_commits), big_events)  # 12 nodes: ~50 events


def test_a_fresh_claim_reads_nothing_more_but_a_resumed_one_reads_its_state(user):
    """The claim's own reads stand in for the recorder's load only on a run's first claim."""
    graph = services.graph_create(owner=user, name="g", spec=join_chain(3)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    assert execute_run(run.pk) == "succeeded"
    # As after a crash: the run is running again with an expired lease, its events and states kept.
    Run.objects.filter(pk=run.pk).update(status="running", lease_owner="")
    with statements() as seen:
        execute_run(run.pk)
    reads = [sql for _thread, sql in seen if not group_commit(sql)]
    assert any("graphs_nodestate" in sql and sql.lstrip().startswith("SELECT") for sql in reads), reads
    assert any('MAX("graphs_runevent"."seq")' in sql for sql in reads), reads
    events = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", "event"))
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1)), "the sequence continues without a gap"
    assert "run_resumed" in [event for _, event in events]


async def test_the_api_starts_a_run_and_waits_for_it_in_few_statements(user):
    from graphs.api.fast import FastRoutes
    from kaizen_web.asgi import django_asgi_app

    fast = FastRoutes(django_asgi_app)
    token = await sync_to_async(lambda: token_create(user=user, name="t")[1])()
    graph = await sync_to_async(lambda: services.graph_create(owner=user, name="g", spec=join_chain(3)).graph)()
    path = f"/api/graphs/{graph.pk}/runs/"
    status, body, _ = await call(fast, "POST", path, {"inputs": {"task": "t"}}, token=token)  # (the token is remembered)
    assert status == 202, body
    await sync_to_async(execute_run)(body["id"])

    with statements() as post:
        status, body, _ = await call(fast, "POST", path, {"inputs": {"task": "t"}}, token=token)
    assert status == 202, body
    assert len(post) <= POST_MAX, post
    assert sum(sql.lstrip().startswith("WITH r AS (INSERT") for _thread, sql in post) == 1, post  # (the run and its audit entry)

    with statements() as seen:
        waiting = asyncio.ensure_future(call(fast, "GET", f"/api/runs/{body['id']}/?wait=30", token=token))
        while not seen.off("kaizen-"):  # (the request has read the run, so it is subscribed: run it now)
            await asyncio.sleep(0.01)
        worker = asyncio.ensure_future(sync_to_async(execute_run, thread_sensitive=False)(body["id"]))
        status, answer, _ = await waiting
        assert await worker == "succeeded"
    assert status == 200 and answer["status"] == "succeeded" and answer["outputs"] == {"result": "t"}, answer
    assert len(answer["nodes"]) == 3 and all(n["status"] == "succeeded" for n in answer["nodes"].values()), answer
    web = seen.off("kaizen-")
    assert len(web) <= GET_WAIT_MAX, web


def test_the_claim_loads_the_graphs_owner_and_workspace_each_in_its_own_field(user, django_user_model):
    """The claim builds the run's graph from its own row: owner and workspace must not trade places
    (they did, and every lookup by workspace on the worker — connections, credentials, MCP servers,
    memory — then looked in the wrong one). Ids made to differ so that a swap shows."""
    from graphs.runner.claim import claim_run
    from workspaces.services import workspace_create

    for i in range(3):  # (more users than workspaces: a user's id is not their workspace's)
        django_user_model.objects.create_user(f"pad{i}")
    team = workspace_create(user=user, name="team")
    graph = services.graph_create(owner=user, workspace=team, name="g", spec=join_chain(1)).graph
    assert graph.owner_id != graph.workspace_id
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    claimed = claim_run(run.pk, "test-owner")
    assert claimed is not None
    loaded = claimed.run.graph
    assert (loaded.pk, loaded.owner_id, loaded.workspace_id) == (graph.pk, user.pk, team.pk)
    assert claimed.run.created_by.get_username() == user.get_username()


@contextlib.contextmanager
def group_commits() -> Iterator[list[tuple]]:
    """The parameters of every group commit meanwhile (claims, events, [audit copy], states, finals)."""
    import json

    seen: list[tuple] = []
    original = utils.CursorWrapper._execute_with_wrappers

    def recording(self, sql, params, many, executor):
        if group_commit(sql):
            seen.append(tuple(json.loads(p) for p in params))
        return original(self, sql, params, many, executor)

    utils.CursorWrapper._execute_with_wrappers = recording
    try:
        yield seen
    finally:
        utils.CursorWrapper._execute_with_wrappers = original


def test_a_run_ends_in_the_commit_of_its_last_saves_and_run_finished(user):
    """The engine queues run_finished before it waits for its last saves, and the worker sends the
    run row's final fields with that event: the last commit holds the last checkpoint, the event and
    the final row (before, the final row had a commit of its own after them)."""
    graph = services.graph_create(owner=user, name="g", spec=join_chain(3)).graph
    for _ in range(3):
        run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
        with group_commits() as commits:
            assert execute_run(run.pk) == "succeeded"
        *_, last = commits
        events, states, finals = last[1], last[-2], last[-1]
        assert [e["event"] for e in events][-1] == "run_finished", events
        assert [f["run_id"] for f in finals] == [run.pk] and finals[0]["status"] == "succeeded", finals
        assert states and states[-1]["node_id"] == "j2", "the last node's checkpoint commits with the run's end"
        assert not [c for c in commits[:-1] if c[-1]], "the final row is written once, with the last events"
        row = Run.objects.get(pk=run.pk)
        assert (row.status, row.outputs, row.lease_owner, row.lease_expires_at) == ("succeeded", {"result": "t"}, "", None)
        assert row.last_seq == events[-1]["seq"] == RunEvent.objects.filter(run=run).count()
        assert row.finished_at is not None and row.cancel_requested is False


def test_the_claim_reads_the_graphs_hooks_for_the_audit(user):
    """The audit's webhook and alert settings come with the claim (graphs.signals.read_with_claim),
    exactly as its own read would give them, disabled hooks left out; no statement of their own."""
    from audit.hooks import CLAIM_READ, RunHooks, _config
    from audit.models import GraphHook
    from graphs import signals
    from graphs.runner.claim import claim_run

    graph = services.graph_create(owner=user, name="g", spec=join_chain(1)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    claimed = claim_run(run.pk, "test-owner")
    assert claimed is not None and signals.claim_read(claimed.run, CLAIM_READ) == []
    GraphHook.objects.create(graph=graph, kind="webhook", url="https://example.com/a", events=["post_node"])
    GraphHook.objects.create(graph=graph, kind="slow_node", threshold_ms=5)
    GraphHook.objects.create(graph=graph, kind="error", url="https://example.com/b", enabled=False)
    GraphHook.objects.create(graph=graph, kind="webhook", url="https://example.com/c")  # (default events)
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    claimed = claim_run(run.pk, "test-owner")
    assert claimed is not None
    read = [_config(h) for h in signals.claim_read(claimed.run, CLAIM_READ)]
    assert read == RunHooks(run.pk, graph.pk)._load() and len(read) == 3, read

    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    with statements() as seen:
        assert execute_run(run.pk) == "succeeded"
    assert not [sql for _thread, sql in seen if sql.lstrip().startswith("SELECT") and "audit_graphhook" in sql], seen
