"""The log is append-only in the database, in both modes: triggers refuse UPDATE and DELETE on the
audit table and on run events (PostgreSQL and SQLite alike), whatever code or SQL tries.

There are two sanctioned ways out, each opened for one transaction only by ``permit(scope)``:
the retention command (``manage.py audit_prune``, scope ``audit``) and the deletion of a run
with everything it owns (graphs' run delete signal, scope ``run_events``). On PostgreSQL the
permit is a transaction-local setting (``SET LOCAL kaizen.<scope>_prune = 'on'``, as the audit
trigger of migration 0002 always read); SQLite has no such settings, so the permit is a row in
``kaizen_log_prune`` inserted and deleted inside the transaction (never visible to another
connection, and rolled back with it).

SQLite drops a table's triggers when a migration rebuilds the table, so ``ensure_guards`` runs
again after every ``migrate`` (audit's AppConfig connects it to post_migrate).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections

PERMIT_TABLE = "kaizen_log_prune"
# scope -> (table, what the error calls its rows)
GUARDED = {"audit": ("audit_auditentry", "audit entries"), "run_events": ("graphs_runevent", "run events")}
INSTALLED_BY = {"audit": ("audit", "0005_sqlite_append_only_trigger"), "run_events": ("graphs", "0003_append_only_guards")}

# scope -> (PostgreSQL trigger and function, its level). Audit's is per row (migration 0002 made it so,
# it lets a permitted DELETE through by returning the row); run events' is per statement (one check for
# a run's thousands of events).
PG_TRIGGERS = {"audit": ("audit_entry_append_only", "ROW"), "run_events": ("run_event_append_only", "STATEMENT")}


def pg_guard_sql(scope: str) -> str:
    """PostgreSQL: the trigger that refuses UPDATE and DELETE on ``scope``'s table, unless the
    transaction holds its permit (``kaizen.<scope>_prune``)."""
    table, rows = GUARDED[scope]
    name, level = PG_TRIGGERS[scope]
    let_through = "OLD" if level == "ROW" else "NULL"  # (a statement trigger's result is ignored)
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('kaizen.{scope}_prune', true) = 'on' THEN
        RETURN {let_through};
    END IF;
    RAISE EXCEPTION '{rows} are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS {name} ON {table};
CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table}
    FOR EACH {level} EXECUTE FUNCTION {name}();
"""


def pg_unguard_sql(scope: str) -> str:
    table = GUARDED[scope][0]
    name = PG_TRIGGERS[scope][0]
    return f"""
DROP TRIGGER IF EXISTS {name} ON {table};
DROP FUNCTION IF EXISTS {name}();
"""


def _sqlite_guards(scope: str) -> list[str]:
    table, rows = GUARDED[scope]
    return [
        f"CREATE TABLE IF NOT EXISTS {PERMIT_TABLE} (scope TEXT PRIMARY KEY)",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{rows} are append-only: UPDATE refused'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        f"WHEN NOT EXISTS (SELECT 1 FROM {PERMIT_TABLE} WHERE scope = '{scope}') "
        f"BEGIN SELECT RAISE(ABORT, '{rows} are append-only: DELETE refused'); END",
    ]


def install(schema_editor, scope: str) -> None:
    """Create the guard of ``scope`` (SQLite both scopes; PostgreSQL run events: audit's
    PostgreSQL trigger is migration 0002's)."""
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for sql in _sqlite_guards(scope):
            schema_editor.execute(sql, params=None)
    elif vendor == "postgresql" and scope == "run_events":
        schema_editor.execute(pg_guard_sql(scope), params=None)


def uninstall(schema_editor, scope: str) -> None:
    vendor = schema_editor.connection.vendor
    table = GUARDED[scope][0]
    if vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update", params=None)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete", params=None)
    elif vendor == "postgresql" and scope == "run_events":
        schema_editor.execute(pg_unguard_sql(scope), params=None)


def ensure_guards(using: str = "default", **_kwargs) -> None:
    """SQLite: recreate any guard a table rebuild dropped (idempotent; only guards whose
    migration is applied)."""
    from django.db.migrations.recorder import MigrationRecorder

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    recorder = MigrationRecorder(connection)
    applied = recorder.applied_migrations() if recorder.has_table() else {}
    with connection.cursor() as cursor:
        for scope in GUARDED:
            if INSTALLED_BY[scope] in applied:
                for sql in _sqlite_guards(scope):
                    cursor.execute(sql)


@contextmanager
def permit(scope: str, using: str = "default") -> Iterator[None]:
    """Let DELETEs of ``scope``'s rows through for the current transaction (call it inside
    ``transaction.atomic``); closed again on leaving, or by the rollback if the block fails."""
    connection = connections[using]
    if not connection.in_atomic_block:
        raise RuntimeError("permit() works inside transaction.atomic() only")
    _open(connection, scope)
    yield
    close(scope, using)


def _open(connection, scope: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config(%s, 'on', true)", [f"kaizen.{scope}_prune"])
        elif connection.vendor == "sqlite":
            cursor.execute(f"INSERT OR IGNORE INTO {PERMIT_TABLE} (scope) VALUES (%s)", [scope])


def open_permit(scope: str, using: str = "default") -> None:
    """``permit`` for callers that cannot wrap a block (a pre_delete signal): the caller's
    transaction must close it (``close``) or end."""
    _open(connections[using], scope)


def close(scope: str, using: str = "default") -> None:
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config(%s, 'off', true)", [f"kaizen.{scope}_prune"])
        elif connection.vendor == "sqlite":
            cursor.execute(f"DELETE FROM {PERMIT_TABLE} WHERE scope = %s", [scope])
