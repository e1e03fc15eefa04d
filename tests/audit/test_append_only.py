"""The log is append-only in the database, on PostgreSQL and on SQLite (the embedded default; run
pytest without DATABASE_URL): no code path or raw SQL updates or deletes an audit entry or a run
event. Only the retention command prunes audit entries (after archiving), and only deleting a run
(alone, or with its graph or user) deletes its events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEntry
from graphs.models import Graph, GraphVersion, Run, RunEvent
from tests.audit.conftest import make_entry

pytestmark = pytest.mark.django_db


def test_model_and_queryset_refuse_update_and_delete():
    entry = make_entry(summary="original")
    entry.summary = "changed"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    with pytest.raises(ValueError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).update(summary="changed")
    with pytest.raises(ValueError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).summary == "original"


@pytest.mark.parametrize("sql", [
    "UPDATE audit_auditentry SET summary = 'forged' WHERE id = %s",
    "DELETE FROM audit_auditentry WHERE id = %s",
])
def test_raw_sql_update_or_delete_of_an_audit_entry_is_refused_by_the_trigger(sql):
    entry = make_entry(summary="original")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).summary == "original"


def test_retention_archives_to_jsonl_then_prunes_only_old_entries(tmp_path):
    old = [make_entry(timestamp=datetime.now(UTC) - timedelta(days=400), summary=f"old {i}", data={"i": i}) for i in range(3)]
    recent = make_entry(summary="recent")
    call_command("audit_prune", days=365, archive_dir=str(tmp_path))
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [recent.pk]
    [archive] = list(tmp_path.glob("audit-*.jsonl"))
    rows = [json.loads(line) for line in archive.read_text().splitlines()]
    assert [r["id"] for r in rows] == [e.pk for e in old]
    assert rows[0]["summary"] == "old 0" and rows[2]["data"] == {"i": 2}


@pytest.fixture
def run_with_events(user):
    graph = Graph.objects.create(owner=user, name="g")
    version = GraphVersion.objects.create(graph=graph, number=1, spec={"nodes": [], "edges": []})
    run = Run.objects.create(graph=graph, version=version, created_by=user)
    for seq in (1, 2, 3):
        RunEvent.objects.create(run=run, seq=seq, event="pre_node", node_id="a", created_at=datetime.now(UTC), data={"seq": seq})
    return run


@pytest.mark.parametrize("sql", [
    "UPDATE graphs_runevent SET event = 'forged' WHERE run_id = %s",
    "DELETE FROM graphs_runevent WHERE run_id = %s",
    "DELETE FROM graphs_runevent WHERE run_id = %s AND seq = 2",
])
def test_raw_sql_update_or_delete_of_run_events_is_refused_by_the_trigger(run_with_events, sql):
    with pytest.raises(DatabaseError, match="run events are append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [run_with_events.pk])
    assert list(RunEvent.objects.filter(run=run_with_events).values_list("event", flat=True)) == ["pre_node"] * 3


def test_deleting_a_run_deletes_its_events_and_nothing_else_gets_through(run_with_events, user):
    other = Graph.objects.create(owner=user, name="kept")
    kept_version = GraphVersion.objects.create(graph=other, number=1, spec={"nodes": [], "edges": []})
    kept = Run.objects.create(graph=other, version=kept_version, created_by=user)
    RunEvent.objects.create(run=kept, seq=1, event="run_started", created_at=datetime.now(UTC))
    with transaction.atomic():
        run_with_events.delete()
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM graphs_runevent WHERE run_id = %s", [kept.pk])  # the permit closed again
    assert not RunEvent.objects.filter(run_id=run_with_events.pk).exists()
    assert RunEvent.objects.filter(run=kept).count() == 1


def test_bulk_deleting_runs_then_their_graph_works(run_with_events):
    """bench/audit_bench.py's cleanup: runs (with their events), then the graph (a run PROTECTs its version)."""
    graph = run_with_events.graph
    Run.objects.filter(graph=graph).delete()
    graph.delete()
    assert not RunEvent.objects.exists() and not Graph.objects.filter(pk=graph.pk).exists()


def test_retention_is_refused_without_its_permit():
    make_entry(timestamp=datetime.now(UTC) - timedelta(days=400))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry")
    assert AuditEntry.objects.count() == 1


def test_sqlite_guards_come_back_after_a_table_rebuild(run_with_events):
    """A migration that rebuilds a table on SQLite drops its triggers; post_migrate restores them."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    from kaizen_web.append_only import ensure_guards

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER graphs_runevent_no_update")
    ensure_guards()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE graphs_runevent SET event = 'forged'")


def test_postgresql_guards_are_a_row_trigger_on_audit_entries_and_a_statement_trigger_on_run_events():
    """What the migrations install (one SQL source, kaizen_web/append_only.py, for both tables)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname, tgrelid::regclass::text, tgtype & 1 FROM pg_trigger "
                       "WHERE tgname LIKE '%%append_only' AND NOT tgisinternal ORDER BY tgname")
        triggers = cursor.fetchall()
    assert triggers == [("audit_entry_append_only", "audit_auditentry", 1), ("run_event_append_only", "graphs_runevent", 0)]
