"""SQLite (the embedded default): triggers refuse UPDATE and DELETE on audit entries, as the
PostgreSQL trigger of 0002 does; the retention command's permit (kaizen_web/append_only.py) is the
one way through. Nothing to do on PostgreSQL."""

from django.db import migrations

from kaizen_web import append_only


def forwards(apps, schema_editor):
    append_only.install(schema_editor, "audit")


def backwards(apps, schema_editor):
    append_only.uninstall(schema_editor, "audit")


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_encrypted_hook_secret")]
    operations = [migrations.RunPython(forwards, backwards)]
