"""A team workspace with one member per role, an outsider with a workspace of their own, data in both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from graphs.models import Graph
from graphs.services import graph_create
from tests.helpers import chain
from workspaces.models import Membership, Role, Workspace
from workspaces.services import workspace_create

ROLES = ["viewer", "runner", "editor", "admin"]


def page_for(user) -> Client:
    """A browser-less client signed in as ``user`` (for the workspace pages)."""
    client = Client()
    client.force_login(user)
    return client


@dataclass
class Team:
    workspace: Workspace
    members: dict[str, Any]  # role name -> user
    outsider: Any
    graph: Graph
    outsider_graph: Graph

    def api(self, who: str | None) -> APIClient:
        client = APIClient()
        if who == "outsider":
            client.force_authenticate(self.outsider)
        elif who is not None:
            client.force_authenticate(self.members[who])
        return client


@pytest.fixture
def team(db, django_user_model) -> Team:
    admin = django_user_model.objects.create_user("ada", email="ada@example.com", password="pw-ada-123")
    workspace = workspace_create(user=admin, name="Team")
    members = {"admin": admin}
    for role in ROLES[:-1]:
        user = django_user_model.objects.create_user(f"{role}-user", email=f"{role}@example.com", password=f"pw-{role}-123")
        Membership.objects.create(workspace=workspace, user=user, role=Role[role.upper()])
        members[role] = user
    outsider = django_user_model.objects.create_user("mallory", password="pw-mallory-123", is_staff=True, is_superuser=True)
    graph = graph_create(owner=admin, workspace=workspace, name="team graph", spec=chain(1)).graph
    outsider_graph = graph_create(owner=outsider, name="mallory's graph", spec=chain(1)).graph
    return Team(workspace, members, outsider, graph, outsider_graph)
