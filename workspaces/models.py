"""Workspaces own graphs, runs, credentials, connections, hooks, memory and audit entries;
members hold one role each (viewer < runner < editor < admin)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Role(models.IntegerChoices):
    VIEWER = 10, "viewer"
    RUNNER = 20, "runner"
    EDITOR = 30, "editor"
    ADMIN = 40, "admin"


class Workspace(models.Model):
    name = models.CharField(max_length=100)
    # The user this is the personal workspace of (created with the user; never left empty of them).
    personal_for = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                        related_name="personal_workspace")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.PositiveSmallIntegerField(choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace_id", "-role", "user_id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique")]
        indexes = [models.Index(fields=["user", "role"], name="membership_user_role")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.get_role_display()})"
