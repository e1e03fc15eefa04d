"""PostgreSQL only: a trigger refuses UPDATE and DELETE on audit entries.

The one exception is the retention command (`manage.py audit_prune`), which archives rows to
JSONL and then deletes them in one transaction after `SET LOCAL kaizen.audit_prune = 'on'`.
A trigram index makes the free-text filter fast when pg_trgm can be installed.
"""

from django.db import migrations

from kaizen_web.append_only import pg_guard_sql, pg_unguard_sql

# (the SQL lives in kaizen_web/append_only.py, beside run events' trigger: the same text as this
# migration always ran, so existing databases hold exactly what a new one gets)
TRIGGER = pg_guard_sql("audit")
DROP = pg_unguard_sql("audit") + "DROP INDEX IF EXISTS audit_summary_trgm;\n"
TRGM = """
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file THEN
    RAISE NOTICE 'pg_trgm unavailable: the audit text filter works without its index';
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS audit_summary_trgm ON audit_auditentry USING gin (summary gin_trgm_ops);
    END IF;
END
$$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER, params=None)
        schema_editor.execute(TRGM, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
