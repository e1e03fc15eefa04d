"""Writes: graph_create, graph_save, graph_restore, run_start, run_cancel, run_resume, runs_sweep.

Each runs inside a transaction; a run is enqueued only after its row is committed.
"""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from . import dispatch
from .engine.schema import GraphSpec
from .engine.validate import Issue, input_issues, validate_graph
from .model_urls import base_url_issues
from .models import Checkpoint, Graph, GraphVersion, NodeState, Run, RunEvent
from .signals import RUN_ID, ActionRow, action_rows
from .signals import action as audit

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A request that cannot be honoured; ``issues`` name the fields at fault."""

    status = 400

    def __init__(self, message: str, issues: list[Issue] | None = None, status: int | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []
        self.extra = extra or {}
        if status:
            self.status = status


class StaleVersion(ServiceError):
    status = 409


def _check_spec(spec: Any, workspace: Any = None) -> dict[str, Any]:
    from .assignees import assignee_issues
    from .connections import connection_issues
    from .credentials import tool_credential_issues

    issues = validate_graph(spec) or base_url_issues(spec) or (
        (connection_issues(spec, workspace) + tool_credential_issues(spec, workspace) + assignee_issues(spec, workspace))
        if workspace else [])
    if issues:
        raise ServiceError("the graph is invalid", [Issue(f"spec.{i.path}".rstrip("."), i.message, i.node, i.edge) for i in issues])
    return GraphSpec.model_validate(spec).model_dump(mode="json")


@transaction.atomic
def graph_create(*, owner, name: str, spec: dict[str, Any], description: str = "", workspace: Any = None) -> GraphVersion:
    """A new graph in ``workspace`` (the creator's personal workspace when not given)."""
    if workspace is None:
        from workspaces.services import ensure_personal_workspace

        workspace = ensure_personal_workspace(owner)
    clean = _check_spec(spec, workspace)
    # One description: the graph's (its list and page) and its document's (the editor's Graph settings,
    # whose save sets both) are the same text from the first version on.
    description = description or clean.get("description", "")
    clean["description"] = description
    graph = Graph.objects.create(workspace=workspace, owner=owner, name=name, description=description, latest_version=1)
    audit("graph.created", actor=owner, graph=graph, summary=name, data={"version": 1})
    return GraphVersion.objects.create(graph=graph, number=1, spec=clean, created_by=owner, message="created")


@transaction.atomic
def graph_save(*, graph: Graph, user, spec: dict[str, Any], base_version: int | None = None,
               name: str | None = None, description: str | None = None, message: str = "") -> GraphVersion:
    """Store a new version. Invalid specs and stale bases raise; the last good version stays."""
    clean = _check_spec(spec, graph.workspace)
    locked = Graph.objects.select_for_update().get(pk=graph.pk)
    if description is None:  # the document's, else (a document without one) the graph's as it was
        description = clean.get("description") or locked.description
    clean["description"] = description
    if base_version is not None and base_version != locked.latest_version:
        latest = locked.versions.select_related("created_by").get(number=locked.latest_version)
        who = latest.created_by.get_username() if latest.created_by else "someone"
        raise StaleVersion(
            f"the graph was saved by {who} (version {locked.latest_version}); you edited version "
            f"{base_version}. Reload to merge, or save a copy.",
            [Issue("base_version", f"stale: latest is {locked.latest_version}")],
            extra={"latest_version": locked.latest_version, "saved_by": who, "saved_at": latest.created_at.isoformat()},
        )
    number = locked.latest_version + 1
    version = GraphVersion.objects.create(graph=locked, number=number, spec=clean, created_by=user, message=message[:300])
    audit("graph.saved", actor=user, graph=locked, summary=f"version {number} {message}", data={"version": number, "message": message})
    locked.latest_version = number
    if name is not None:
        locked.name = name
    locked.description = description
    locked.save(update_fields=["latest_version", "name", "description", "updated_at"])
    return version


@transaction.atomic
def graph_publish(*, graph: Graph, user, number: int | None) -> Graph:
    """Make version ``number`` the one triggers and schedules run (None: unpublish)."""
    locked = Graph.objects.select_for_update().get(pk=graph.pk)
    if number is not None and not GraphVersion.objects.filter(graph=locked, number=number).exists():
        raise ServiceError(f"version {number} does not exist", [Issue("number", "no such version")], status=404)
    before = locked.published_version
    locked.published_version = number
    locked.save(update_fields=["published_version", "updated_at"])
    summary = f"published version {number}" if number is not None else "unpublished"
    audit("graph.published", actor=user, graph=locked, summary=summary, data={"version": number, "before": before})
    graph.published_version = number
    return locked


def published_version_missing(graph: Graph) -> ServiceError:
    """What a trigger or a schedule answers for a graph with no published version: what to do."""
    return ServiceError(
        f"graph {graph.pk} ({graph.name}) has no published version, and triggers and schedules run only the "
        f"published one. Open the graph in the editor, pick a saved version in its history and Publish it "
        f"(or POST /api/graphs/{graph.pk}/versions/<n>/publish/).", status=409,
        extra={"graph": graph.pk, "latest_version": graph.latest_version})


@transaction.atomic
def graph_delete(*, graph: Graph, user) -> None:
    """Delete a graph and its versions. Runs keep a graph (their versions, events and audit trail
    refer to it), so a graph with runs is refused with a 409 that says what to do instead."""
    runs = Run.objects.filter(graph=graph).count()
    if runs:
        raise ServiceError(
            f"graph {graph.pk} has {runs} run{'s' if runs != 1 else ''} and cannot be deleted: runs keep the version "
            "they ran and their audit trail. Rename the graph to retire it, or have an administrator delete its "
            "runs first.", status=409, extra={"runs": runs})
    audit("graph.deleted", actor=user, graph=graph)
    graph.delete()


@transaction.atomic
def graph_restore(*, graph: Graph, user, number: int) -> GraphVersion:
    old = GraphVersion.objects.filter(graph=graph, number=number).first()
    if old is None:
        raise ServiceError(f"version {number} does not exist", [Issue("number", "no such version")], status=404)
    # Inside the transaction: if the save fails, this entry is rolled back with it.
    audit("graph.restored", actor=user, graph=graph, summary=f"restored version {number}", data={"restored": number})
    return graph_save(graph=graph, user=user, spec=old.spec, message=f"restored version {number}")


def _enqueue_on_commit(run: Run, task_id: str | None = None) -> None:
    """Send the run's message once the transaction commits. A run started with its task id
    already stored (run_start) needs no UPDATE after the send."""
    def send() -> None:
        sent = dispatch.send_run(run.pk, task_id)
        if task_id is None:
            Run.objects.filter(pk=run.pk).update(celery_task_id=sent)

    transaction.on_commit(send)


def _run_input_issues(spec: dict[str, Any], inputs: Any) -> list[Issue]:
    declared = GraphSpec.model_validate({"inputs": spec.get("inputs") or {}}).inputs  # (stored specs are valid)
    return input_issues(declared, inputs)


@transaction.atomic
def run_start(*, graph: Graph, user, inputs: dict[str, Any], version: int | None = None,
              dry_run: bool = False, budget_usd: Decimal | None = None,
              origin: str = Run.Origin.API, origin_label: str = "", latest: tuple[int, Any] | None = None) -> Run:
    """``latest``: the graph's latest version's (id, declared inputs), when the caller read them
    with the graph (``selectors.graph_to_run``); used when no ``version`` is asked for."""
    number = version or graph.latest_version
    # Only the declared inputs are read (a spec may be megabytes); the task id is chosen here
    # and stored with the run, so enqueueing it costs no UPDATE afterwards.
    found = latest if version is None and latest is not None else (
        GraphVersion.objects.filter(graph=graph, number=number).values_list("pk", "spec__inputs").first())
    if found is None:
        raise ServiceError(f"version {number} does not exist", [Issue("version", "no such version")])
    version_id, declared_inputs = found
    issues = _run_input_issues({"inputs": declared_inputs}, inputs)
    if issues:
        raise ServiceError("the run inputs are invalid", issues)
    task_id = str(uuid.uuid4())
    run = Run(graph=graph, version_id=version_id, created_by=user, inputs=inputs, dry_run=dry_run,
              budget_usd=budget_usd, enqueued_at=timezone.now(), celery_task_id=task_id,
              origin=origin, origin_label=origin_label[:200])
    via = f" via {origin_label or origin}" if origin != Run.Origin.API else ""
    started = {"actor": user, "status": "queued", "summary": f"version {number}{' (dry run)' if dry_run else ''}{via}",
               "data": {"inputs": inputs, "version": number, "dry_run": dry_run, "origin": origin}}
    rows = action_rows("run.started", run=run, **started) if connection.vendor == "postgresql" else None
    if rows is not None:
        _insert_run_with(run, rows)  # the run and its audit entry: one statement
    else:
        run.save(force_insert=True)
        audit("run.started", run=run, **started)
    _enqueue_on_commit(run, task_id)
    return run


def _insert_run_with(run: Run, rows: list[ActionRow]) -> None:
    """INSERT ``run`` and ``rows`` (its action's rows, graphs.signals.action_rows) in one statement
    (PostgreSQL: data-modifying CTEs, all executed once, in the caller's transaction). The run's
    columns and values are what the ORM's INSERT would send (``Model.save``), without the cost of
    compiling it per run."""
    fields = _run_insert_fields()
    params: list[Any] = [f.get_db_prep_save(f.pre_save(run, True), connection) for f in fields]
    quote = connection.ops.quote_name
    ctes = [f"r AS (INSERT INTO {quote(Run._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(Run._meta.pk.column)})"]
    for i, row in enumerate(rows):
        values = []
        for column, value in zip(row.columns, row.values, strict=True):
            if value is RUN_ID:
                values.append(f"(SELECT {quote(Run._meta.pk.column)} FROM r)::{row.casts.get(column, 'bigint')}")
            else:
                values.append("%s")
                params.append(value)
        ctes.append(f"a{i} AS (INSERT INTO {quote(row.table)} ({', '.join(quote(c) for c in row.columns)}) VALUES ({', '.join(values)}))")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} SELECT {quote(Run._meta.pk.column)} FROM r", params)
        run.pk = cursor.fetchone()[0]
    run._state.adding, run._state.db = False, connection.alias


@functools.cache
def _run_insert_fields() -> list[Any]:
    """The columns Model.save inserts for a new run (all concrete fields but the generated id)."""
    return [f for f in Run._meta.local_concrete_fields if f is not Run._meta.auto_field and not f.generated]


@transaction.atomic
def run_cancel(*, run: Run, user: Any = None) -> Run:
    """Cancel a queued or running run; ``user`` (who asked) is the audit entry's actor."""
    now = timezone.now()
    # A queued run is cancelled at once; a running one is stopped by its worker within ~1 s.
    if Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED).update(
        status=Run.Status.CANCELLED, finished_at=now, error={"type": "cancelled", "message": "cancelled before it started"}
    ):
        pass
    elif Run.objects.filter(pk=run.pk, status=Run.Status.WAITING).update(
        status=Run.Status.CANCELLED, finished_at=now, error={"type": "cancelled", "message": "cancelled while waiting for an answer"}
    ):
        pass  # a parked run has no worker to tell
    elif Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(cancel_requested=True):
        from .cancel import announce

        transaction.on_commit(lambda: announce(run.pk))  # its worker stops it within milliseconds
    else:
        raise ServiceError(f"run {run.pk} is {run.status}; only queued, running or waiting runs can be cancelled", status=409)
    run.refresh_from_db()
    audit("run.cancelled", actor=user, run=run, status=run.status)
    return run


def _decide_tool_call(run: Run, decision: str | None) -> None:
    """A run interrupted during a non-idempotent tool call resumes only with the user's decision,
    written into the node's journal entry (the engine reads it when the node runs again)."""
    error = run.error or {}
    if run.status != Run.Status.INTERRUPTED or error.get("type") != "tool_interrupted":
        if decision:
            raise ServiceError("tool_call: the run was not interrupted during a tool call", [Issue("tool_call", "not expected")])
        return
    if not decision:
        raise ServiceError(f"the run stopped during the call {error.get('tool')} of node {error.get('node')}: resume with "
                           "tool_call 'retry' (make the call again) or 'skip' (go on without its result)",
                           [Issue("tool_call", "required: retry or skip")], extra={"tool_call": error})
    state = NodeState.objects.select_for_update().filter(run=run, node_id=error.get("node")).first()
    entries = (state.data.get("tool_calls") or []) if state else []
    entry = next((e for e in entries if e.get("key") == error.get("key") and e.get("status") == "started"), None)
    if entry is None or state is None:
        return  # (already settled)
    entry["resolution"] = decision
    NodeState.objects.filter(pk=state.pk).update(data=state.data)


@transaction.atomic
def run_resume(*, run: Run, user: Any = None, budget_usd: Decimal | None = None, tool_call: str | None = None) -> Run:
    _decide_tool_call(Run.objects.select_for_update().get(pk=run.pk), tool_call)
    fields: dict[str, Any] = {"status": Run.Status.QUEUED, "cancel_requested": False, "error": None,
                              "finished_at": None, "enqueued_at": timezone.now(), "claims": 0, "stalled_claims": 0}
    if budget_usd is not None:
        fields["budget_usd"] = budget_usd
    if not Run.objects.filter(pk=run.pk, status__in=Run.RESUMABLE).update(**fields):
        raise ServiceError(f"run {run.pk} is {run.status}; only failed, interrupted or cancelled runs resume", status=409)
    run.refresh_from_db()
    audit("run.resumed", actor=user, run=run, status=run.status, data={"budget_usd": budget_usd, "tool_call": tool_call})
    _enqueue_on_commit(run)
    return run


BROKER_MARK = "kaizen:broker-mark"


def _broker_was_reset() -> bool:
    """True once after the broker lost its data (a Redis restart without persistence): a key this
    function sets is gone. The queued runs' messages went with it."""
    if not settings.REDIS_URL:
        return False
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    try:
        return bool(client.set(BROKER_MARK, "1", nx=True))
    finally:
        client.close()


def _requeue_after_broker_reset(now) -> list[int]:
    """Re-send every run waiting for a worker: queued ones, and released ones (handed off)."""
    # (a run whose message did survive gets a second one: harmless, only one delivery claims it)
    waiting = Run.objects.filter(Q(status=Run.Status.QUEUED) | Q(status=Run.Status.RUNNING, lease_owner=""))
    resent = []
    for pk in waiting.values_list("pk", flat=True)[:1000]:
        if Run.objects.filter(pk=pk).filter(Q(status=Run.Status.QUEUED) | Q(lease_owner="")).update(enqueued_at=now):
            _enqueue_on_commit(Run(pk=pk))
            resent.append(pk)
    if resent:
        log.warning("the broker lost its messages (restarted): re-sent runs %s", resent)
    return resent


def runs_sweep() -> list[int]:
    """Re-enqueue runs nobody is executing: a lapsed lease (worker died) or a lost message.

    A poison run (one that kills every worker that takes it) is stopped, judged by deaths
    without progress: a worker that died running it without saving a checkpoint since it
    claimed it. Healthy runs in a storm of worker deaths keep making progress and go on."""
    now = timezone.now()
    if _broker_was_reset():
        _requeue_after_broker_reset(now)
    stale_queued = now - timedelta(seconds=settings.KAIZEN_REQUEUE_AFTER_S)
    candidates = Run.objects.filter(
        Q(status=Run.Status.RUNNING, lease_expires_at__lt=now)
        | Q(status=Run.Status.QUEUED, enqueued_at__lt=stale_queued)
    ).values_list("pk", "status", "progress_mark", "stalled_claims")[:200]
    requeued = []
    # No explicit transaction here: each step is one conditional UPDATE in autocommit, so a
    # sweeper frozen between two of them (SIGSTOP, a long GC pause) holds no row lock that
    # would stall the workers writing those runs.
    for pk, status, mark, stalled in candidates:
        same = Q(pk=pk, status=status) & (Q(lease_expires_at__lt=now) | Q(status=Run.Status.QUEUED, enqueued_at__lt=stale_queued))
        fields: dict[str, Any] = {}
        if status == Run.Status.RUNNING:  # its worker died: did it get anywhere?
            newest = Checkpoint.objects.filter(run_id=pk).aggregate(m=Max("id"))["m"] or 0
            same &= Q(progress_mark=mark, stalled_claims=stalled)
            stalled = stalled + 1 if newest <= mark else 0
            fields["stalled_claims"] = stalled
            if stalled >= settings.KAIZEN_MAX_CLAIMS:
                node = (RunEvent.objects.filter(run_id=pk).exclude(node_id="").order_by("-seq")
                        .values_list("node_id", flat=True).first())
                where = f" at node {node}" if node else ""
                Run.objects.filter(same).update(
                    status=Run.Status.FAILED, finished_at=now, lease_owner="", lease_expires_at=None, **fields,
                    error={"type": "worker_lost", "node": node,
                           "message": f"gave up: {stalled} workers in a row died running it{where} without progress"})
                continue
        # Only one sweeper wins the row, so one message goes out; the released lease gets a
        # grace period so the run is not re-sent every sweep while it waits for a worker.
        grace = now + timedelta(seconds=settings.KAIZEN_REQUEUE_AFTER_S)
        won = Run.objects.filter(same).update(
            enqueued_at=now, lease_owner="", lease_expires_at=grace if status == Run.Status.RUNNING else None, **fields)
        if won:
            _enqueue_on_commit(Run(pk=pk))
            requeued.append(pk)
    if requeued:
        log.warning("re-enqueued runs %s", requeued)
    return requeued
