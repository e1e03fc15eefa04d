"""Group commit: one thread per process writes the pending events and checkpoints of every run
in the process, many runs per transaction.

A worker running fifty runs would otherwise commit hundreds of tiny transactions a second from
fifty threads; here they share commits, and each run's own order is kept because a run
submits its next batch only after the previous one is written.

Fencing: every batch carries the epoch its run was claimed with, and is written only if that
epoch is still the run's current one, in the same statement (the run row is share-locked by it,
so a concurrent claim waits for the write and then sees its events). A batch fenced out fails
with ClaimLost: the run belongs to another worker now. A batch that fails because the database
is unreachable is retried, with backoff, until it commits or is fenced out; never skipped (a
skipped batch would leave a gap in the run's event sequence).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

from ..engine.ports import ClaimLost
from ..models import Checkpoint, NodeState, Run, RunEvent
from ..signals import EventCopy, event_copy

log = logging.getLogger(__name__)
MAX_JOBS_PER_COMMIT = 256
IDLE_CLOSE_S = 2.0  # an idle writer gives its database connection back
RETRY_BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0)  # between attempts while the database is unreachable


def transient(exc: BaseException) -> bool:
    """A fault of the connection or the server (restart, dropped connection, deadlock, a locked
    SQLite file), after which the same write can succeed: not a fault of the data."""
    return isinstance(exc, OperationalError | InterfaceError)


@dataclass
class _Job:
    run_id: int
    epoch: int
    events: Sequence[RunEvent | PendingEvent]
    states: dict[str, dict[str, Any]]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    final: dict[str, Any] | None = None  # the run row's final fields, written in the same commit


@dataclass(slots=True)
class PendingEvent:
    """A run event from emit to commit: RunEvent's fields (a model instance costs more to make than
    the writer needs), and its data already as JSON text, made once (json_text) and reused for the
    event row, its audit copy and the stream's size check."""

    run_id: int
    seq: int
    event: str
    node_id: str
    created_at: datetime
    data: dict[str, Any]
    data_json: str

    def as_model(self) -> RunEvent:
        return RunEvent(run_id=self.run_id, seq=self.seq, event=self.event, node_id=self.node_id,
                        created_at=self.created_at, data=self.data)


def json_text(data: Any) -> str:
    """``data`` as the JSON stored for it: objects JSON cannot hold become strings, NaN and
    Infinity null, and NUL characters U+FFFD (jsonb refuses them; rare, so found by one substring
    search of the text)."""
    text = json.dumps(data, default=str)
    if "NaN" in text or "Infinity" in text:
        text = json.dumps(json.loads(text, parse_constant=lambda _c: None))
    if "\\u0000" in text:
        text = json.dumps(_without_nul(json.loads(text)))
    return text


def _resolve(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class GroupCommitWriter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.commits = 0

    def submit(self, run_id: int, epoch: int, events: Sequence[RunEvent | PendingEvent], states: dict[str, dict[str, Any]],
               final: dict[str, Any] | None = None) -> asyncio.Future[None]:
        """Queue one run's batch, written only under ``epoch``; the future resolves once it is
        committed, or fails with ClaimLost if the run was claimed by someone else meanwhile.
        ``final``: the run row's final fields, committed with its last events."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._ensure_thread()
        self._queue.put(_Job(run_id, epoch, events, states, loop, future, final))
        return future

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="kaizen-group-commit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                jobs = [self._queue.get(timeout=IDLE_CLOSE_S)]
            except queue.Empty:
                connection.close()
                continue
            while len(jobs) < MAX_JOBS_PER_COMMIT:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not self._commit(jobs) and len(jobs) > 1:
                for job in jobs:  # one run's bad batch must not fail the others: each alone
                    self._commit([job], alone=True)

    def _commit(self, jobs: list[_Job], alone: bool = False) -> bool:
        """Write ``jobs`` in one commit, retrying while the database is unreachable. False if
        their data failed as a group (the caller retries each alone)."""
        attempt = 0
        while True:
            try:
                # The writer owns its connection: kept while busy, closed on error or when idle
                # (close_old_connections would reconnect per batch with CONN_MAX_AGE=0).
                fenced_out = self._write(jobs)
                self.commits += 1
                break
            except BaseException as exc:
                connection.close()
                if transient(exc):
                    delay = RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)]
                    if attempt == 0 or attempt % 20 == 0:
                        log.warning("group commit of %d batches failed (%s); retrying", len(jobs), exc)
                    attempt += 1
                    time.sleep(delay)
                    continue
                if len(jobs) > 1 and not alone:
                    return False
                log.exception("group commit of %d batches failed", len(jobs))
                for job in jobs:
                    self._resolve(job, exc)
                return True
        for job in jobs:
            self._resolve(job, ClaimLost(f"run {job.run_id} was claimed by another worker") if job.run_id in fenced_out else None)
        return True

    @staticmethod
    def _resolve(job: _Job, error: BaseException | None) -> None:
        try:
            job.loop.call_soon_threadsafe(_resolve, job.future, error)
        except RuntimeError:
            pass  # that run's event loop is gone (its worker was stopped)

    @staticmethod
    def _write(jobs: list[_Job]) -> set[int]:
        """One commit for every job whose run is still held under its epoch; returns the runs
        whose batches were fenced out (nothing of theirs is written)."""
        # A run submits its next batch only once the previous one is written, and a batch keeps
        # one state per node (the newest): so each (run, node) appears at most once per commit.
        events_by_run: dict[int, list[RunEvent | PendingEvent]] = defaultdict(list)
        states: dict[tuple[int, str], dict[str, Any]] = {}
        claims = {job.run_id: job.epoch for job in jobs}
        finals = {job.run_id: job.final for job in jobs if job.final is not None}
        for job in jobs:
            events_by_run[job.run_id].extend(job.events)
            states.update({(job.run_id, node_id): state for node_id, state in job.states.items()})
        copy = event_copy()  # the audit log's copy of the events, stored with them
        if connection.vendor == "postgresql":
            events = [ev for evs in events_by_run.values() for ev in evs]
            audit = copy.rows(events_by_run) if copy else []
            fenced_out = _write_postgresql(claims, events, audit, states, finals, copy)
        else:
            fenced_out, audit = _write_orm(claims, events_by_run, states, finals, copy)
        if copy is not None:  # (told only what was written)
            run_id_at = copy.columns.index("run_id")
            copy.committed([row for row in audit if row[run_id_at] not in fenced_out])
        return fenced_out


def _write_orm(claims: dict[int, int], events_by_run: dict[int, list[RunEvent | PendingEvent]], states: dict[tuple[int, str], dict[str, Any]],
               finals: dict[int, dict[str, Any]], copy: EventCopy | None = None) -> tuple[set[int], list[tuple]]:
    """SQLite (the embedded default): the ORM, in one transaction (IMMEDIATE: the database is
    locked from its start, so the epoch check and the writes see the same state)."""
    with transaction.atomic():
        current = set(Run.objects.filter(pk__in=list(claims)).values_list("pk", "epoch"))
        fenced_out = {run_id for run_id, epoch in claims.items() if (run_id, epoch) not in current}
        events_by_run = {r: evs for r, evs in events_by_run.items() if r not in fenced_out}
        states = {k: v for k, v in states.items() if k[0] not in fenced_out}
        events = [ev for evs in events_by_run.values() for ev in evs]
        audit = copy.rows(events_by_run) if copy else []
        RunEvent.objects.bulk_create([ev.as_model() if isinstance(ev, PendingEvent) else ev for ev in events])
        if copy is not None:
            copy.insert(audit)
        NodeState.objects.bulk_create(
            [NodeState(run_id=r, node_id=n, status=s["status"], data=s) for (r, n), s in states.items()],
            update_conflicts=True, unique_fields=["run", "node_id"], update_fields=["status", "data", "updated_at"],
        )
        # History keeps node-level checkpoints; mid-node journal saves only update NodeState.
        Checkpoint.objects.bulk_create([Checkpoint(run_id=r, node_id=n, status=s["status"], data=s)
                                        for (r, n), s in states.items() if s["status"] != "running"])
        for run_id, fields in finals.items():
            if run_id not in fenced_out:
                Run.objects.filter(pk=run_id).update(**{k: v for k, v in fields.items() if v is not None or k in ("outputs", "error", "lease_expires_at")})
    return fenced_out, audit


def _recordset(columns: str) -> str:
    return f"jsonb_to_recordset(%s::jsonb) AS r({columns})"


# One statement, so one round trip and one commit (autocommit) for everything a group commit
# holds: the events, their audit copy, the latest node states and the checkpoint history (the
# node-level states among them: mid-node journal saves only update NodeState). The rows travel
# as JSON arrays; PostgreSQL unpacks them (jsonb_to_recordset) in C.
#
# Fencing: ``held`` share-locks the rows of the runs whose claimed epoch is still current (in id
# order, like every other multi-row lock here); only their rows are inserted. A claim (an UPDATE
# of the run row) waits for this statement, so the new owner reads the sequence where it stands.
@functools.cache
def group_commit_sql(copy: EventCopy | None) -> str:
    return _GROUP_COMMIT_SQL.format(copy=_copy_cte(copy) if copy else "")


def _copy_cte(copy: EventCopy) -> str:
    columns = ", ".join(copy.columns)
    return f"""
), audit AS (
    INSERT INTO {copy.table} ({columns})
    SELECT {columns}
    FROM {_recordset(", ".join(f"{c} {copy.pg_types.get(c, 'text')}" for c in copy.columns))}
    WHERE r.run_id IN (SELECT id FROM held)"""


# (``{copy}``: the copy's CTE, or nothing; doubled braces are the SQL's own)
_GROUP_COMMIT_SQL = f"""
WITH claims AS (
    SELECT run_id, epoch FROM {_recordset("run_id bigint, epoch bigint")}
), held AS (
    SELECT run.id FROM {Run._meta.db_table} run JOIN claims ON claims.run_id = run.id AND claims.epoch = run.epoch
    ORDER BY run.id FOR SHARE OF run
), events AS (
    INSERT INTO {RunEvent._meta.db_table} (run_id, seq, event, node_id, created_at, data)
    SELECT run_id, seq, event, node_id, created_at, data
    FROM {_recordset("run_id bigint, seq bigint, event text, node_id text, created_at timestamptz, data jsonb")}
    WHERE r.run_id IN (SELECT id FROM held){{copy}}
), states AS (
    INSERT INTO {NodeState._meta.db_table} (run_id, node_id, status, data, updated_at)
    SELECT run_id, node_id, status, data, now() FROM {_recordset("run_id bigint, node_id text, status text, data jsonb")}
    WHERE r.run_id IN (SELECT id FROM held)
    ON CONFLICT (run_id, node_id) DO UPDATE SET status = EXCLUDED.status, data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
    RETURNING run_id, node_id, status, data
), history AS (
    INSERT INTO {Checkpoint._meta.db_table} (run_id, node_id, status, data, created_at)
    SELECT run_id, node_id, status, data, now() FROM states WHERE status <> 'running'
), finished AS (
    UPDATE {Run._meta.db_table} run SET status = r.status, outputs = r.outputs, error = r.error,
        cost_usd = COALESCE(r.cost_usd, run.cost_usd), prompt_tokens = COALESCE(r.prompt_tokens, run.prompt_tokens),
        completion_tokens = COALESCE(r.completion_tokens, run.completion_tokens), finished_at = r.finished_at,
        last_seq = COALESCE(r.last_seq, run.last_seq), cancel_requested = false, lease_owner = '', lease_expires_at = NULL
    FROM {_recordset("run_id bigint, status text, outputs jsonb, error jsonb, cost_usd numeric, prompt_tokens bigint, "
                     "completion_tokens bigint, finished_at timestamptz, last_seq bigint")}
    WHERE run.id = r.run_id AND run.id IN (SELECT id FROM held)
)
SELECT run_id FROM claims WHERE run_id NOT IN (SELECT id FROM held)
"""


def _pg_json(rows: list[dict[str, Any]]) -> str:
    """JSON for jsonb, which refuses the NUL character: NULs in strings become U+FFFD (rare: the
    scan is one substring search; the walk runs only when it finds one)."""
    text = json.dumps(rows)
    if "\\u0000" in text:
        text = json.dumps(_without_nul(rows))
    return text


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


FINAL_FIELDS = ("status", "outputs", "error", "cost_usd", "prompt_tokens", "completion_tokens", "finished_at", "last_seq")


def _final_row(run_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """The final update as one recordset row (the statement also releases the lease)."""
    unknown = set(fields) - set(FINAL_FIELDS) - {"cancel_requested", "lease_owner", "lease_expires_at"}
    assert not unknown, f"not a final field: {unknown}"
    row: dict[str, Any] = {"run_id": run_id, **{k: fields.get(k) for k in FINAL_FIELDS}}
    row["cost_usd"] = None if row["cost_usd"] is None else str(row["cost_usd"])
    row["finished_at"] = row["finished_at"].isoformat() if row["finished_at"] else None
    return row


def _write_postgresql(claims: dict[int, int], events: list[RunEvent | PendingEvent], audit: list[tuple],
                      states: dict[tuple[int, str], dict[str, Any]], finals: dict[int, dict[str, Any]],
                      copy: EventCopy | None = None) -> set[int]:
    params = pg_params(claims, events, audit, states, finals, copy)
    assert connection.get_autocommit(), "the group commit is one statement in autocommit mode"
    with prepared_cursor() as cursor:
        cursor.execute(group_commit_sql(copy), params)
        return {row[0] for row in cursor.fetchall()}


def prepared_cursor() -> CursorWrapper:  # (PostgreSQL only)
    """A cursor whose statements are bound and prepared on the server, for the few statements a
    worker sends over and over (the group commit: planning its CTEs took as long as running them).

    Django's own cursors bind on the client (psycopg's ``ClientCursor``), which never prepares, and
    its connections have psycopg's automatic preparation off (``prepare_threshold`` None, for
    connection poolers); the threshold is set here on this connection only, and only cursors made
    here are server-binding, so nothing else is prepared. Wrapped in Django's cursor wrapper, so
    execute wrappers and query logging still see the statement. (Behind PgBouncer in transaction
    mode, this needs PgBouncer >= 1.21 with ``max_prepared_statements``, or KAIZEN_DB_PREPARED=0.)"""
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None and settings.KAIZEN_DB_PREPARED:
        raw.prepare_threshold = 1  # (psycopg counts executions; the second one is prepared)
    cursor = psycopg.Cursor(raw)
    return (CursorDebugWrapper if connection.queries_logged else CursorWrapper)(cursor, connection)


def pg_params(claims: dict[int, int], events: list[RunEvent | PendingEvent], audit: list[tuple],
              states: dict[tuple[int, str], dict[str, Any]], finals: dict[int, dict[str, Any]],
              copy: EventCopy | None = None) -> tuple[str, ...]:
    """The statement's parameters: claims, events, the copy's rows (if there is a copy), node
    states, final updates. An event's data, and its audit copy's when that is the same object,
    goes in as the JSON text the recorder made of it (PendingEvent.data_json), not serialized again."""
    dumps = _pg_json
    texts = {id(ev.data): ev.data_json for ev in events if isinstance(ev, PendingEvent)}
    params = [
        json.dumps([{"run_id": r, "epoch": e} for r, e in claims.items()]),
        _rows_json([({"run_id": e.run_id, "seq": e.seq, "event": e.event, "node_id": e.node_id,
                      "created_at": e.created_at.isoformat()}, e.data) for e in events], texts),
        dumps([{"run_id": r, "node_id": n, "status": s["status"], "data": s} for (r, n), s in states.items()]),
        dumps([_final_row(r, f) for r, f in finals.items()]),
    ]
    if copy is not None:
        params.insert(2, _rows_json([(dict(zip(copy.columns[:-1], (r[0].isoformat(), *r[1:-1]), strict=True)), r[-1])
                                     for r in audit], texts) if copy.columns[-1] == "data" else
                      dumps([dict(zip(copy.columns, (r[0].isoformat(), *r[1:]), strict=True)) for r in audit]))
    return tuple(params)


def _rows_json(rows: list[tuple[dict[str, Any], Any]], texts: dict[int, str]) -> str:
    """A JSON array of rows, each ``fields`` plus a ``data`` member: spliced in as text where
    ``texts`` has it (by the data object's identity), serialized here otherwise."""
    parts = []
    for fields, data in rows:
        text = texts.get(id(data))
        if text is None:
            text = json.dumps(data)
        head = json.dumps(fields)
        parts.append(f'{head[:-1]}, "data": {text}}}' if fields else f'{{"data": {text}}}')
    out = f"[{', '.join(parts)}]"
    if "\\u0000" in out:  # (a NUL outside the data texts, or in data made elsewhere)
        return json.dumps(_without_nul([{**fields, "data": json.loads(texts[id(data)]) if id(data) in texts else data}
                                        for fields, data in rows]))
    return out


WRITER = GroupCommitWriter()
