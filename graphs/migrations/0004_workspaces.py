"""Graphs, credentials and memory sessions belong to a workspace: every existing one moves into
its owner's personal workspace (runs, versions and hooks follow their graph)."""

import django.db.models.deletion
from django.db import migrations, models


def forwards(apps, schema_editor):
    Workspace = apps.get_model("workspaces", "Workspace")
    personal = dict(Workspace.objects.exclude(personal_for=None).values_list("personal_for_id", "pk"))
    for model, user_field in (("Graph", "owner_id"), ("Credential", "owner_id"), ("MemoryRecord", "owner_id")):
        Model = apps.get_model("graphs", model)
        for owner_id in Model.objects.values_list(user_field, flat=True).distinct():
            Model.objects.filter(**{user_field: owner_id}).update(workspace_id=personal[owner_id])


class Migration(migrations.Migration):
    dependencies = [("graphs", "0003_append_only_guards"), ("workspaces", "0002_personal_workspaces")]

    operations = [
        migrations.AddField("graph", "workspace", models.ForeignKey(
            null=True, on_delete=django.db.models.deletion.CASCADE, related_name="graphs", to="workspaces.workspace")),
        migrations.AddField("credential", "workspace", models.ForeignKey(
            null=True, on_delete=django.db.models.deletion.CASCADE, related_name="credentials", to="workspaces.workspace")),
        migrations.AddField("memoryrecord", "workspace", models.ForeignKey(
            null=True, on_delete=django.db.models.deletion.CASCADE, related_name="memories", to="workspaces.workspace")),
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RemoveConstraint("credential", "credential_owner_name_unique"),
        migrations.RemoveConstraint("memoryrecord", "memory_owner_session_unique"),
        migrations.RemoveField("memoryrecord", "owner"),
        migrations.AlterField("graph", "workspace", models.ForeignKey(
            on_delete=django.db.models.deletion.CASCADE, related_name="graphs", to="workspaces.workspace")),
        migrations.AlterField("credential", "workspace", models.ForeignKey(
            on_delete=django.db.models.deletion.CASCADE, related_name="credentials", to="workspaces.workspace")),
        migrations.AlterField("memoryrecord", "workspace", models.ForeignKey(
            on_delete=django.db.models.deletion.CASCADE, related_name="memories", to="workspaces.workspace")),
        migrations.AddConstraint("credential", models.UniqueConstraint(
            fields=("workspace", "name"), name="credential_workspace_name_unique")),
        migrations.AddConstraint("memoryrecord", models.UniqueConstraint(
            fields=("workspace", "session_id"), name="memory_workspace_session_unique")),
        migrations.AddIndex("graph", models.Index(fields=["workspace", "-updated_at"], name="graph_workspace_updated")),
    ]
