"""Run events are append-only in the database (a trigger on PostgreSQL and on SQLite refuses
UPDATE and DELETE; deleting a run, graphs/run_delete.py, and nothing else opens the way: see
kaizen_web/append_only.py). Also: each memory session carries a version (bumped by every append, so
cached copies can prove they are current) and its own tier policy (applied by demotion)."""

from django.db import migrations, models

from kaizen_web import append_only


def forwards(apps, schema_editor):
    append_only.install(schema_editor, "run_events")


def backwards(apps, schema_editor):
    append_only.uninstall(schema_editor, "run_events")


class Migration(migrations.Migration):

    dependencies = [
        ('graphs', '0002_run_epoch'),
    ]

    operations = [
        migrations.AddField(
            model_name='memoryrecord',
            name='policy',
            field=models.JSONField(default=dict),
        ),
        migrations.AddField(
            model_name='memoryrecord',
            name='version',
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.RunPython(forwards, backwards),
    ]
