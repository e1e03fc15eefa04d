"""PostgreSQL only: one trigram index over the text the free-text filter searches
(summary, node id, event and user name), so a rare word is found without a table scan."""

from django.db import migrations

FORWARDS = """
DROP INDEX IF EXISTS audit_summary_trgm;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS audit_search_trgm ON audit_auditentry
            USING gin ((summary || ' ' || node_id || ' ' || event || ' ' || actor_name) gin_trgm_ops);
    END IF;
END
$$;
"""
BACKWARDS = "DROP INDEX IF EXISTS audit_search_trgm;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARDS, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARDS, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]
    operations = [migrations.RunPython(forwards, backwards)]
