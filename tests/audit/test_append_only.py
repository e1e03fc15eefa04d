"""No code path updates or deletes an audit entry; only the retention command prunes (after archiving)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEntry
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
def test_raw_sql_update_or_delete_is_refused_by_the_postgres_trigger(sql):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger is PostgreSQL-only")
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
