"""Audit entries name the workspace whose members may read them: an existing entry goes to the
personal workspace of the user who owned its object (``owner_id``). The log is append-only, so
its guard (a trigger) is lifted for this one statement, inside the migration's transaction."""

from django.db import migrations, models

from kaizen_web import append_only

FILL = """UPDATE audit_auditentry SET workspace_id = (
    SELECT w.id FROM workspaces_workspace w WHERE w.personal_for_id = audit_auditentry.owner_id)
WHERE owner_id IS NOT NULL"""


def forwards(apps, schema_editor):
    AuditEntry = apps.get_model("audit", "AuditEntry")
    if not AuditEntry.objects.exclude(owner_id=None).exists():
        return
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only", params=None)
        schema_editor.execute(FILL, params=None)
        schema_editor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_append_only", params=None)
    else:
        append_only.uninstall(schema_editor, "audit")
        schema_editor.execute(FILL, params=None)
        append_only.install(schema_editor, "audit")


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_sqlite_append_only_trigger"), ("workspaces", "0002_personal_workspaces")]

    operations = [
        migrations.AddField("auditentry", "workspace_id", models.BigIntegerField(blank=True, null=True)),
        migrations.AddIndex("auditentry", models.Index(fields=["workspace_id", "-id"], name="audit_workspace_id")),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
