"""What graphs publishes, and the only door through which another app (audit) hears it.

Three streams, each with one subscribe call (audit/apps.py makes them at startup):

- ``action(event, **fields)``: a person's action (``graph.created``, ``run.started``, ...), called
  inside the service's transaction, so what a subscriber writes rolls back with it. A subscriber
  may also give the row it stores (``action_rows``): run_start stores the run and its entry in one
  statement.
- ``observe_run(hooks, run)``: the run driver hands every run's engine HookManager to the
  subscribers before the run starts (webhooks, alerts, metrics, log context).
- ``event_copy()``: at most one table that keeps a copy of every stored run event, written by the
  group-commit writer in the very commit (one statement on PostgreSQL) that stores the events.
- ``read_with_claim(name, sql)``: a value a subscriber needs for every run it observes, read by the
  worker's claim statement itself (no statement of its own); ``claim_read(run, name)`` gives it to
  the ``observe_run`` subscriber.

Graphs imports nothing of its subscribers (import-linter: "graphs knows nothing of audit").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .engine.hooks import HookManager

ActionSubscriber = Callable[..., Any]
ActionRowMaker = Callable[..., "ActionRow"]
RunSubscriber = Callable[[HookManager, Any], Any]

_actions: dict[str, ActionSubscriber] = {}
_action_rows: dict[str, ActionRowMaker] = {}
_runs: dict[str, RunSubscriber] = {}
_copy: list[EventCopy] = []
_claim_reads: dict[str, str] = {}


def _key(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"  # subscribing twice (a second ready()) is a no-op


def on_action(fn: ActionSubscriber, row: ActionRowMaker | None = None) -> ActionSubscriber:
    """``row``: the same action as the one row ``fn`` would store, not stored (``action_rows``)."""
    _actions[_key(fn)] = fn
    if row is None:
        _action_rows.pop(_key(fn), None)
    else:
        _action_rows[_key(fn)] = row
    return fn


def action(event: str, **fields: Any) -> None:
    """Publish a person's action: actor, graph, run, object_type, object_id, owner_id, node_id,
    status, summary, data (all optional; ``actor`` defaults to the request's user)."""
    for fn in _actions.values():
        fn(event, **fields)


class _RunId:
    def __repr__(self) -> str:
        return "RUN_ID"


# Stands, in an ActionRow's values, for the id of the run inserted by the same statement.
RUN_ID = _RunId()


@dataclass(frozen=True)
class ActionRow:
    """One row a subscriber stores for an action: ``values`` for ``columns`` of ``table`` (a
    column's value may be ``RUN_ID``; ``casts``: column -> SQL type to cast the run's id to)."""

    table: str
    columns: tuple[str, ...]
    values: tuple[Any, ...]
    casts: dict[str, str] = field(default_factory=dict)


def action_rows(event: str, **fields: Any) -> list[ActionRow] | None:
    """``action(event, **fields)`` as the rows its subscribers would store, for a writer that stores
    them in its own statement (``run=`` an unsaved run: its id is ``RUN_ID``), inside the
    transaction as ``action`` would. None when a subscriber gave no row form: then call ``action``."""
    if set(_action_rows) != set(_actions):
        return None
    return [make(event, **fields) for make in _action_rows.values()]


def on_run(fn: RunSubscriber) -> RunSubscriber:
    _runs[_key(fn)] = fn
    return fn


def observe_run(hooks: HookManager, run: Any) -> HookManager:
    """Let the subscribers register their hooks for ``run`` (a graphs.models.Run); returns ``hooks``."""
    for fn in _runs.values():
        fn(hooks, run)
    return hooks


def read_with_claim(name: str, sql: str) -> None:
    """Have the worker's claim (one ``UPDATE ... RETURNING`` on PostgreSQL) also return ``sql``, a
    scalar expression over the claimed run's row (the runs table by its name), as ``name``."""
    _claim_reads[name] = sql


def claim_reads() -> dict[str, str]:
    return dict(_claim_reads)


def claim_read(run: Any, name: str) -> Any:
    """What the claim read for ``name`` (None: not read, e.g. not PostgreSQL or not a worker's claim)."""
    return getattr(run, "claim_reads", {}).get(name)


@dataclass(frozen=True, eq=False)  # (hashed by identity: the writer caches its statement per copy)
class EventCopy:
    """A table keeping a copy of every stored run event (the audit log), written with the events.

    ``rows`` turns batches of several runs' RunEvent rows into tuples of ``columns`` (one of them
    ``run_id``); ``insert`` stores them inside the writer's transaction where the database is not
    PostgreSQL; ``committed`` is told what was committed (rows of fenced-out runs left out)."""

    table: str
    columns: tuple[str, ...]
    rows: Callable[[Mapping[int, Iterable[Any]]], list[tuple[Any, ...]]]
    insert: Callable[[list[tuple[Any, ...]]], None]
    committed: Callable[[list[tuple[Any, ...]]], None]
    pg_types: dict[str, str] = field(default_factory=dict)  # column -> PostgreSQL type (default text)


def copy_events_to(copy: EventCopy) -> None:
    _copy[:] = [copy]


def event_copy() -> EventCopy | None:
    return _copy[0] if _copy else None
