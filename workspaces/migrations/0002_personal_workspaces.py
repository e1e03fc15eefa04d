"""Every existing user gets a personal workspace, as new users do (workspaces/signals.py)."""

from django.conf import settings
from django.db import migrations

ADMIN = 40


def forwards(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Workspace = apps.get_model("workspaces", "Workspace")
    Membership = apps.get_model("workspaces", "Membership")
    have = set(Workspace.objects.exclude(personal_for=None).values_list("personal_for_id", flat=True))
    for user in User.objects.exclude(pk__in=have).iterator():
        workspace = Workspace.objects.create(name=user.username[:100], personal_for=user)
        Membership.objects.create(workspace=workspace, user=user, role=ADMIN)


class Migration(migrations.Migration):
    dependencies = [("workspaces", "0001_initial"), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
