"""Writes to the audit store: user actions, a run's events, hook configuration.

A run's events reach the audit store through the group-commit writer (graphs/runner/writer.py),
on the run's hot path, as ``RUN_EVENT_COPY`` (subscribed in apps.py through graphs/signals.py, the
one door graphs publishes through): ``run_event_rows`` turns a batch of several runs' events into audit rows (a
cached lookup of each run's graph and owner, no JSON parsing), the writer stores them in the
very statement that stores the events (PostgreSQL) or with ``insert_run_event_rows`` in the same
transaction (elsewhere), and ``count_run_events`` counts what was committed for /metrics
(``RUN_EVENT_COLUMNS`` is the rows' shape). ``record_run_events`` does all three for one run's
batch inside the caller's transaction: tests and bench/audit_bench.py use it, the writer does not.
"""

from __future__ import annotations

import json
import threading
from collections import Counter as Tally
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from graphs.signals import RUN_ID, ActionRow, EventCopy

from . import logs, metrics
from .models import AuditEntry, GraphHook
from .urlguard import UnsafeURL, check_webhook_url

_STATUS_OF = {"on_error": "failed", "pre_node": "running", "llm_retry": "retrying", "interrupted": "interrupted",
              "cancelled": "cancelled", "node_skipped": "skipped", "run_started": "running", "run_resumed": "running"}


@dataclass
class _RunInfo:  # (what never changes for a run: a per-process copy cannot disagree with another's)
    graph_id: int | None
    owner_id: int | None
    workspace_id: int | None
    actor_id: int | None
    actor_name: str


_runs: OrderedDict[int, _RunInfo] = OrderedDict()
_runs_lock = threading.Lock()
_RUNS_CACHED = 512


def _remember(run_id: int, info: _RunInfo) -> None:
    with _runs_lock:
        _runs[run_id] = info
        _runs.move_to_end(run_id)
        while len(_runs) > _RUNS_CACHED:
            _runs.popitem(last=False)


def remember_run(hooks: Any, run: Any) -> None:
    """A run is about to start here (graphs.signals.observe_run): keep what its audit rows need,
    if the run came with its graph and creator loaded (the worker's claim reads them), so the
    group-commit writer does not read them again for its first batch."""
    cache = run._state.fields_cache
    graph, creator = cache.get("graph"), cache.get("created_by")
    if graph is None or (run.created_by_id is not None and creator is None):
        return
    loaded = graph.get_deferred_fields()
    if "owner_id" in loaded or "workspace_id" in loaded:
        return
    _remember(run.pk, _RunInfo(run.graph_id, graph.owner_id, graph.workspace_id, run.created_by_id,
                               creator.get_username() if creator is not None else ""))


def _run_info(run_id: int) -> _RunInfo:
    with _runs_lock:
        info = _runs.get(run_id)
        if info is not None:
            _runs.move_to_end(run_id)
            return info
    from graphs.models import Run

    row = (Run.objects.filter(pk=run_id)
           .values_list("graph_id", "graph__owner_id", "graph__workspace_id", "created_by_id", "created_by__username").first())
    info = _RunInfo(*row) if row else _RunInfo(None, None, None, None, "")
    info.actor_name = info.actor_name or ""
    _remember(run_id, info)
    return info


def _cut(text: Any, n: int = 300) -> str:
    text = "" if text is None else str(text).replace("\x00", "")  # PostgreSQL text refuses NUL
    return text if len(text) <= n else text[: n - 1] + "…"


def _usd(amount: Any) -> str:
    """"$0.0000804", not "$8.04e-05" (Python's str of a small float)."""
    from graphs.engine.money import usd

    return f"${usd(amount)}" if isinstance(amount, (int, float)) and not isinstance(amount, bool) else f"${amount}"


def _summary(event: str, data: dict[str, Any]) -> str:
    """A short human line per event, also what the free-text filter searches."""
    get = data.get
    if event == "post_node":
        err = (get("error") or {}).get("message", "") if isinstance(get("error"), dict) else ""
        return _cut(f"{get('status')} in {get('duration_ms')} ms, {_usd(get('cost_usd'))} {err}".strip())
    if event == "on_error":
        return _cut(f"{get('type', 'error')}: {get('message', '')}")
    if event == "post_llm_call":
        if get("replayed"):
            return _cut(f"{get('model')} (replayed from checkpoint)")
        return _cut(f"{get('model')} {get('prompt_tokens')}+{get('completion_tokens')} tokens {_usd(get('cost_usd'))}: {_cut(get('answer'), 200)}")
    if event == "pre_llm_call":
        return _cut(f"{get('model')} via {get('provider')}")
    if event == "pre_node":
        return _cut(f"{get('kind')} attempt {get('attempt')}")
    if event == "pre_tool_call":
        target = f"{get('method')} {get('url')}" if get("url") else f"MCP {get('server')}"
        return _cut(f"{get('tool')} ({target}) {json.dumps(get('arguments') or {}, ensure_ascii=False)}")
    if event == "post_tool_call":
        if get("replayed"):
            return _cut(f"{get('tool')} {get('status')} (replayed from checkpoint)")
        extra = (f" {_usd(get('cost_usd'))}" if get("cost_usd") else "") + (" (simulated: dry run)" if get("simulated") else "")
        return _cut(f"{get('tool')} {get('status')} in {get('duration_ms')} ms, {get('bytes')} bytes{extra} {get('error') or ''}".strip())
    if event == "run_finished":
        err = (get("error") or {}).get("message", "") if isinstance(get("error"), dict) else ""
        return _cut(f"{get('status')}, {_usd(get('cost_usd'))}, {(get('prompt_tokens') or 0) + (get('completion_tokens') or 0)} tokens {err}".strip())
    if event in ("fallback", "decision", "budget", "interrupted", "cancelled", "llm_retry"):
        return _cut(get("message") or get("error") or get("handler") or "")
    return ""


def record_run_events(run_id: int, events: Iterable[Any]) -> None:
    """Copy one run's batch of RunEvent rows into the audit store (inside the caller's transaction)."""
    rows = run_event_rows({run_id: events})
    insert_run_event_rows(rows)
    count_run_events(rows)


def run_event_rows(events_by_run: Mapping[int, Iterable[Any]]) -> list[tuple]:
    """The audit rows (``RUN_EVENT_COLUMNS``) for batches of several runs' events. The
    group-commit writer stores them in the statement that stores the events."""
    rows: list[tuple] = []
    for run_id, events in events_by_run.items():
        info = _run_info(run_id)
        for ev in events:
            data = ev.data
            if ev.event == "post_node" and data.get("kind"):  # (the event names its node's kind: no state here)
                data = {**data, "node_kind": data["kind"]}
            rows.append((ev.created_at, info.actor_id, info.actor_name, info.owner_id, info.workspace_id, "run", str(run_id), info.graph_id,
                         run_id, ev.node_id, ev.event, str(data.get("status") or _STATUS_OF.get(ev.event, ""))[:16],
                         _summary(ev.event, data), data))
    return rows


def count_run_events(rows: list[tuple]) -> None:
    """Count stored audit rows for /metrics (after their commit)."""
    at = RUN_EVENT_COLUMNS.index("event")
    metrics.events_counted(Tally(r[at] for r in rows))


RUN_EVENT_COLUMNS = ("timestamp", "actor_id", "actor_name", "owner_id", "workspace_id", "object_type", "object_id", "graph_id", "run_id",
                     "node_id", "event", "status", "summary", "data")
_PG_TYPES = {"timestamp": "timestamptz", "actor_id": "bigint", "owner_id": "bigint", "workspace_id": "bigint", "graph_id": "bigint",
             "run_id": "bigint", "data": "jsonb"}


def insert_run_event_rows(rows: list[tuple]) -> None:
    """Store ``run_event_rows`` (inside the caller's transaction): COPY on PostgreSQL (a third of
    the ORM's per-row cost), bulk_create elsewhere."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        AuditEntry.objects.bulk_create([AuditEntry(**dict(zip(RUN_EVENT_COLUMNS, r, strict=True))) for r in rows])
        return
    dumps = json.dumps
    with connection.cursor() as cursor:
        sql = f"COPY {AuditEntry._meta.db_table} ({', '.join(RUN_EVENT_COLUMNS)}) FROM STDIN"
        with cursor.copy(sql) as copy:
            write_row = copy.write_row
            for r in rows:
                write_row((*r[:-1], dumps(r[-1])))


def _actor(actor: Any) -> tuple[int | None, str]:
    if actor is None:
        actor = logs.current().get("user_id")
    if actor is None or (hasattr(actor, "is_authenticated") and not actor.is_authenticated):
        return None, ""
    if isinstance(actor, int):
        name = get_user_model().objects.filter(pk=actor).values_list("username", flat=True).first() or ""
        return actor, name
    return actor.pk, actor.get_username()


def record_action(event: str, *, actor: Any = None, graph: Any = None, run: Any = None, object_type: str = "",
                  object_id: Any = "", owner_id: int | None = None, node_id: str = "", status: str = "",
                  summary: str = "", data: dict[str, Any] | None = None, workspace_id: int | None = None) -> AuditEntry:
    """Store one user action. ``actor`` defaults to the signed-in user of the current request.
    ``workspace_id`` (whose members may read the entry) is the graph's when a graph or run is given.

    Called inside the service's transaction, so a rolled-back action leaves no entry.
    """
    return AuditEntry.objects.create(**_action_fields(
        event, actor=actor, graph=graph, run=run, object_type=object_type, object_id=object_id, owner_id=owner_id,
        node_id=node_id, status=status, summary=summary, data=data, workspace_id=workspace_id))


_DATA = AuditEntry._meta.get_field("data")
_ACTION_COLUMNS = ("timestamp", "actor_id", "actor_name", "owner_id", "workspace_id", "object_type", "object_id", "graph_id", "run_id",
                   "node_id", "event", "status", "summary", "data")


def action_row(event: str, **fields: Any) -> ActionRow:
    """``record_action``'s entry as a row for the caller to store (graphs.signals.action_rows):
    with ``run=`` an unsaved run, its id (``object_id`` and ``run_id``) is ``RUN_ID``."""
    values = _action_fields(event, **fields)
    values["data"] = _DATA.get_db_prep_save(values["data"], connection)
    return ActionRow(AuditEntry._meta.db_table, _ACTION_COLUMNS, tuple(values[c] for c in _ACTION_COLUMNS),
                     {"object_id": "text", "run_id": "bigint"})


def _action_fields(event: str, *, actor: Any = None, graph: Any = None, run: Any = None, object_type: str = "",
                   object_id: Any = "", owner_id: int | None = None, node_id: str = "", status: str = "",
                   summary: str = "", data: dict[str, Any] | None = None, workspace_id: int | None = None) -> dict[str, Any]:
    actor_id, actor_name = _actor(actor)
    graph_id = None
    run_id: Any = None
    if run is not None:
        run_id = RUN_ID if run.pk is None else run.pk
        graph = graph or run.graph
        object_type, object_id = object_type or "run", object_id or run_id
    if graph is not None:
        graph_id, owner_id = graph.pk, graph.owner_id if owner_id is None else owner_id
        workspace_id = graph.workspace_id if workspace_id is None else workspace_id
        object_type, object_id = object_type or "graph", object_id or graph.pk
    clean = json.loads(json.dumps(data or {}, default=str))
    return dict(
        timestamp=datetime.now(UTC), actor_id=actor_id, actor_name=actor_name, owner_id=owner_id, workspace_id=workspace_id,
        object_type=object_type or "system", object_id=object_id if object_id is RUN_ID else str(object_id), graph_id=graph_id,
        run_id=run_id, node_id=node_id, event=event, status=status, summary=_cut(summary), data=clean,
    )


def hook_issues(*, kind: str | None, url: str, threshold_ms: int | None, check_url: bool = True) -> dict[str, str]:
    """What is wrong with a hook's settings (field -> message): the one rule for the API's
    serializer and the graph page's form. ``check_url``: resolve the URL and refuse private
    addresses (when it is new: an unchanged URL is not checked again on every edit)."""
    if kind == GraphHook.Kind.WEBHOOK and not url:
        return {"url": "a webhook needs a URL"}
    issues: dict[str, str] = {}
    if url and check_url:
        try:
            check_webhook_url(url)
        except UnsafeURL as exc:
            issues["url"] = str(exc)
    if kind == GraphHook.Kind.SLOW_NODE and not threshold_ms:
        issues["threshold_ms"] = "a slow-node alert needs a threshold in ms"
    return issues


@transaction.atomic
def hook_create(*, graph: Any, user: Any, kind: str, url: str = "", events: list[str] | None = None,
                threshold_ms: int | None = None, name: str = "", enabled: bool = True) -> GraphHook:
    hook = GraphHook.objects.create(graph=graph, kind=kind, url=url, events=events or [], threshold_ms=threshold_ms,
                                    name=name, enabled=enabled, created_by=user)
    record_action("hook.created", actor=user, graph=graph, data=hook_public(hook))
    return hook


@transaction.atomic
def hook_update(*, hook: GraphHook, user: Any, **fields: Any) -> GraphHook:
    for key, value in fields.items():
        setattr(hook, key, value)
    hook.save()
    record_action("hook.updated", actor=user, graph=hook.graph, data=hook_public(hook))
    return hook


@transaction.atomic
def hook_delete(*, hook: GraphHook, user: Any) -> None:
    record_action("hook.deleted", actor=user, graph=hook.graph, data=hook_public(hook))
    hook.delete()


def hook_public(hook: GraphHook) -> dict[str, Any]:
    """What may be shown or logged about a hook: everything but its secret."""
    return {"id": hook.pk, "kind": hook.kind, "name": hook.name, "url": hook.url, "events": hook.events,
            "threshold_ms": hook.threshold_ms, "enabled": hook.enabled}


RUN_EVENT_COPY = EventCopy(table=AuditEntry._meta.db_table, columns=RUN_EVENT_COLUMNS, pg_types=_PG_TYPES,
                           rows=run_event_rows, insert=insert_run_event_rows, committed=count_run_events)
