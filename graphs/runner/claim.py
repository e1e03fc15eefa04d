"""Taking a run: one conditional UPDATE that also reads what starting the run needs.

The claim takes a new fencing token (``epoch``) and the lease, and returns the run row with its
graph's owner and workspace and its creator's name (what the resolvers, the memory and the audit
rows need: nothing per run is read again), and on PostgreSQL what the run's observers asked to
be read with it (graphs.signals.read_with_claim: the audit's webhook and alert settings). For a run claimed for the first time (epoch 1), nobody
has written anything for it yet, so the same statement also tells where it stands: its event
sequence, whether it has node states (a fork's) and whether people answered its human nodes; the
recorder then loads nothing. A run claimed before is read afresh after the claim: a previous
holder's last group commit, which the UPDATE waited for, is not in this statement's snapshot.

A version's spec never changes once saved, so each process reads it once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from kaizen_web.dbthreads import db

from .. import signals
from ..models import Checkpoint, Graph, GraphVersion, HumanAnswer, NodeState, Run, RunEvent

_User = get_user_model()
_RUNS = Run._meta.db_table
_USERNAME = getattr(_User._meta.get_field(_User.USERNAME_FIELD), "column")  # noqa: B009  (a concrete field)

_CLAIM_SQL = f"""
UPDATE {_RUNS}
SET status = 'running', lease_owner = %s, lease_expires_at = %s, claims = claims + 1, epoch = epoch + 1,
    started_at = COALESCE(started_at, %s),
    progress_mark = (SELECT COALESCE(MAX(id), 0) FROM {Checkpoint._meta.db_table} WHERE run_id = %s)
WHERE id = %s AND (status = 'queued' OR (status = 'running' AND (lease_expires_at < %s OR lease_owner = '')))
RETURNING {", ".join(f'"{f.column}"' for f in Run._meta.concrete_fields)},
    (SELECT owner_id FROM {Graph._meta.db_table} g WHERE g.id = {_RUNS}.graph_id) AS kaizen_owner_id,
    (SELECT workspace_id FROM {Graph._meta.db_table} g WHERE g.id = {_RUNS}.graph_id) AS kaizen_workspace_id,
    (SELECT {_USERNAME} FROM {_User._meta.db_table} u WHERE u.id = {_RUNS}.created_by_id) AS kaizen_username,
    (SELECT COALESCE(MAX(seq), 0) FROM {RunEvent._meta.db_table} e WHERE e.run_id = {_RUNS}.id) AS kaizen_max_seq,
    EXISTS (SELECT 1 FROM {NodeState._meta.db_table} s WHERE s.run_id = {_RUNS}.id) AS kaizen_has_states,
    EXISTS (SELECT 1 FROM {HumanAnswer._meta.db_table} a WHERE a.run_id = {_RUNS}.id) AS kaizen_has_answers{{reads}}
"""


@functools.cache
def _claim_sql(vendor: str, reads: tuple[tuple[str, str], ...]) -> str:
    """The claim, with the subscribers' reads (graphs.signals.read_with_claim) on PostgreSQL."""
    if vendor != "postgresql":
        reads = ()
    return _CLAIM_SQL.format(reads="".join(f",\n    ({sql}) AS kaizen_read_{i}" for i, (_name, sql) in enumerate(reads)))


@dataclass(frozen=True)
class Claim:
    """A run just taken, with its graph and creator loaded (as select_related would)."""

    run: Run
    max_seq: int  # (these three hold only for a first claim: see the module's docstring)
    has_states: bool
    has_answers: bool

    @property
    def first(self) -> bool:
        return self.run.epoch == 1

    @property
    def start(self) -> tuple[int, dict[str, dict[str, Any]]] | None:
        """(event sequence, node states) for the recorder, when the claim already knows them."""
        return (self.max_seq, {}) if self.first and not self.has_states else None

    @property
    def may_have_answers(self) -> bool:
        return not self.first or self.has_answers


def claim_run(run_id: int, owner: str) -> Claim | None:
    """Take the run if nobody holds it (one statement); None if it was not ours to take."""
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    lease = now + timedelta(seconds=settings.KAIZEN_LEASE_S)
    reads = tuple(signals.claim_reads().items())
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(connection.vendor, reads), [owner, adapt(lease), adapt(now), run_id, run_id, adapt(now)])
        row = cursor.fetchone()
    if row is None:
        return None
    run = _run_from(row)
    extra = dict(zip(_EXTRAS, row[len(_ATTNAMES):], strict=False))
    if connection.vendor == "postgresql":
        rest = row[len(_ATTNAMES) + len(_EXTRAS):]
        run.claim_reads = {name: rest[i] for i, (name, _sql) in enumerate(reads)}  # type: ignore[attr-defined]
    run._state.fields_cache["graph"] = _partial(Graph, id=run.graph_id, owner_id=extra["owner_id"],
                                                workspace_id=extra["workspace_id"])
    if run.created_by_id is not None:
        run._state.fields_cache["created_by"] = _partial(_User, **{"id": run.created_by_id, _USERNAME: extra["username"]})
    return Claim(run, int(extra["max_seq"]), bool(extra["has_states"]), bool(extra["has_answers"]))


_ATTNAMES = [f.attname for f in Run._meta.concrete_fields]  # the run's columns in the claim's RETURNING, in this order
_EXTRAS = ("owner_id", "workspace_id", "username", "max_seq", "has_states", "has_answers")  # then these


@functools.cache
def _converters(vendor: str) -> list[tuple[int, list[Any], Any]]:
    """(column, converters, expression) of the run's columns that need converting from the
    database's value, as the ORM's compiler finds them (the backend's, then the field's)."""
    out = []
    for i, field in enumerate(Run._meta.concrete_fields):
        col = field.get_col(_RUNS)
        converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if converters:
            out.append((i, converters, col))
    return out


def _run_from(row: tuple[Any, ...]) -> Run:
    """The Run of a claim's row, as Run.objects.raw would build it (without its per-call setup)."""
    values = list(row[:len(_ATTNAMES)])
    for i, converters, col in _converters(connection.vendor):
        for convert in converters:
            values[i] = convert(values[i], col, connection)
    return Run.from_db(connection.alias, _ATTNAMES, values)


def _partial(model: Any, **values: Any) -> Any:
    """An instance with only ``values`` loaded (the rest deferred). Model.from_db matches a partial
    row to the model's fields in *their* order, not the names' order: give it that order."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    assert len(names) == len(values), f"not concrete fields of {model.__name__}: {set(values) - set(names)}"
    return model.from_db(connection.alias, names, [values[n] for n in names])


def claim(run_id: int, owner: str) -> int | None:
    """Take the run if nobody holds it: its new epoch, or None. One statement."""
    claimed = claim_run(run_id, owner)
    return None if claimed is None else claimed.run.epoch


_SPECS: dict[int, Any] = {}  # version id -> its spec (insertion order: the oldest is dropped first)
_SPECS_KEPT = 64


async def version_spec(version_id: int) -> Any:
    """A version's graph document: read once per process (from a database thread)."""
    spec = _SPECS.get(version_id)
    if spec is None:
        spec = await db(lambda: GraphVersion.objects.values_list("spec", flat=True).get(pk=version_id))
        while len(_SPECS) >= _SPECS_KEPT:
            _SPECS.pop(next(iter(_SPECS)))
        _SPECS[version_id] = spec
    return spec
