"""Each action checks its own role: viewer < runner < editor < admin; outsiders (staff too) get 404."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from graphs.models import Graph, Run
from workspaces.models import Membership, Role, Workspace
from workspaces.permissions import get_for, graphs_visible_to, may, scoped

from .conftest import ROLES

pytestmark = pytest.mark.django_db

AT_LEAST = {"view": "viewer", "run": "runner", "edit": "editor", "delete": "admin"}


def allowed(role: str, action: str) -> bool:
    return ROLES.index(role) >= ROLES.index(AT_LEAST[action])


def test_every_user_gets_a_personal_workspace_as_its_admin(django_user_model):
    user = django_user_model.objects.create_user("newcomer", password="pw-newcomer-123")
    workspace = Workspace.objects.get(personal_for=user)
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.ADMIN


def test_the_permission_api(team):
    viewer, outsider = team.members["viewer"], team.outsider
    assert list(graphs_visible_to(viewer)) == [team.graph]
    assert list(graphs_visible_to(viewer, "edit")) == []
    assert list(graphs_visible_to(outsider)) == [team.outsider_graph]  # a superuser sees only their own
    assert may(viewer, "view", team.graph) and not may(viewer, "run", team.graph)
    assert scoped(team.members["runner"], Run).count() == 0
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    with pytest.raises(Http404):
        get_for(outsider, Graph, team.graph.pk, "view")
    with pytest.raises(PermissionDenied):
        get_for(viewer, Graph, team.graph.pk, "edit")
    assert get_for(team.members["editor"], Graph, team.graph.pk, "edit") == team.graph


@pytest.mark.parametrize("role", ROLES)
def test_api_actions_by_role(team, role):
    api, graph = team.api(role), team.graph
    assert api.get(f"/api/graphs/{graph.pk}/").status_code == 200
    assert [g["id"] for g in api.get("/api/graphs/").json()] == [graph.pk]
    started = api.post(f"/api/graphs/{graph.pk}/runs/", {"inputs": {"task": "t"}}, format="json")
    assert started.status_code == (202 if allowed(role, "run") else 403)
    run = Run.objects.filter(graph=graph).first() or team.api("admin").post(
        f"/api/graphs/{graph.pk}/runs/", {"inputs": {"task": "t"}}, format="json") and Run.objects.get(graph=graph)
    assert api.get(f"/api/runs/{run.pk}/").status_code == 200
    assert api.post(f"/api/runs/{run.pk}/cancel/").status_code == (202 if allowed(role, "run") else 403)
    saved = api.put(f"/api/graphs/{graph.pk}/", {"spec": graph.versions.get(number=1).spec}, format="json")
    assert saved.status_code == (200 if allowed(role, "edit") else 403)
    hooks = api.post(f"/api/graphs/{graph.pk}/hooks/", {"kind": "error"}, format="json")
    assert hooks.status_code == (201 if allowed(role, "edit") else 403)
    created = api.post("/api/graphs/", {"name": "new", "spec": graph.versions.get(number=1).spec}, format="json",
                       HTTP_X_KAIZEN_WORKSPACE=str(team.workspace.pk))
    assert created.status_code == (201 if allowed(role, "edit") else 403)
    if created.status_code == 201:
        assert Graph.objects.get(pk=created.json()["id"]).workspace == team.workspace  # the header's workspace
    fresh = team.api("admin").post("/api/graphs/", {"name": "doomed", "spec": graph.versions.get(number=1).spec},
                                   format="json", HTTP_X_KAIZEN_WORKSPACE=str(team.workspace.pk)).json()["id"]
    assert api.delete(f"/api/graphs/{fresh}/").status_code == (204 if allowed(role, "delete") else 403)
    credential = api.post("/api/credentials/", {"name": "k", "api_key": "sk-test-1234567890"}, format="json",
                          HTTP_X_KAIZEN_WORKSPACE=str(team.workspace.pk))
    assert credential.status_code == (201 if role == "admin" else 403)


def test_outsiders_and_staff_get_404_like_missing_ids(team):
    api, graph = team.api("outsider"), team.graph
    run = team.api("admin").post(f"/api/graphs/{graph.pk}/runs/", {"inputs": {"task": "t"}}, format="json").json()["id"]
    missing = graph.pk + 10_000
    for url in (f"/api/graphs/{graph.pk}/", f"/api/graphs/{graph.pk}/versions/", f"/api/graphs/{graph.pk}/hooks/",
                f"/api/runs/{run}/", f"/api/runs/{run}/events/", f"/api/graphs/{missing}/"):
        assert api.get(url).status_code == 404, url
    assert api.post(f"/api/runs/{run}/cancel/").status_code == 404
    assert api.delete(f"/api/graphs/{graph.pk}/").status_code == 404
    assert api.get("/api/graphs/", HTTP_X_KAIZEN_WORKSPACE=str(team.workspace.pk)).status_code == 404
    assert api.post("/api/graphs/", {"name": "x", "spec": graph.versions.get(number=1).spec}, format="json",
                    HTTP_X_KAIZEN_WORKSPACE=str(team.workspace.pk)).status_code == 404
    assert graph.pk not in [g["id"] for g in api.get("/api/graphs/").json()]
    assert run not in [r["id"] for r in api.get("/api/runs/").json()]
    page = Client()
    page.force_login(team.outsider)
    for url in (f"/graphs/{graph.pk}/", f"/graphs/{graph.pk}/edit/", f"/runs/{run}/", f"/workspaces/{team.workspace.pk}/members/"):
        assert page.get(url).status_code == 404, url


def test_members_page_admin_adds_by_username_or_email_and_changes_roles(team, django_user_model):
    newcomer = django_user_model.objects.create_user("nora", email="nora@example.com", password="pw-nora-123")
    admin = Client()
    admin.force_login(team.members["admin"])
    url = f"/workspaces/{team.workspace.pk}/members/"
    page = admin.get(url)
    assert page.status_code == 200 and b"viewer-user" in page.content and b'data-testid="member-add"' in page.content
    added = admin.post(url, {"who": "NORA@example.com", "role": "runner"}, HTTP_HX_REQUEST="true")
    assert added.status_code == 200 and b"nora" in added.content
    membership = Membership.objects.get(workspace=team.workspace, user=newcomer)
    assert membership.role == Role.RUNNER
    changed = admin.post(f"{url}{membership.pk}/role/", {"role": "editor"}, HTTP_HX_REQUEST="true")
    assert changed.status_code == 200
    membership.refresh_from_db()
    assert membership.role == Role.EDITOR
    unknown = admin.post(url, {"who": "nobody-here", "role": "viewer"}, HTTP_HX_REQUEST="true")
    assert b"no single user" in unknown.content
    mine = Membership.objects.get(workspace=team.workspace, user=team.members["admin"])
    last = admin.post(f"{url}{mine.pk}/role/", {"role": "viewer"}, HTTP_HX_REQUEST="true")
    assert b"keeps at least one admin" in last.content
    assert Membership.objects.get(pk=mine.pk).role == Role.ADMIN
    editor = Client()
    editor.force_login(team.members["editor"])
    assert editor.get(url).status_code == 200 and b'data-testid="member-add"' not in editor.get(url).content
    assert editor.post(url, {"who": "mallory", "role": "admin"}).status_code == 403
    assert editor.post(f"{url}{membership.pk}/role/", {"role": "admin"}).status_code == 403
    assert not Membership.objects.filter(workspace=team.workspace, user=team.outsider).exists()


def test_the_switcher_chooses_what_pages_list_and_where_new_graphs_go(team):
    editor = Client()
    editor.force_login(team.members["editor"])
    home = editor.get("/")
    assert b'data-testid="workspace-switch"' in home.content and b"team graph" not in home.content  # personal first
    assert editor.post("/workspaces/switch/", {"workspace": team.workspace.pk, "next": "/runs/"})["Location"] == "/runs/"
    assert b"team graph" in editor.get("/").content
    editor.post("/graphs/new/", {"name": "made here", "template": "empty"})
    assert Graph.objects.get(name="made here").workspace == team.workspace
    assert editor.post("/workspaces/switch/", {"workspace": team.outsider_graph.workspace_id}).status_code == 404


def test_opening_a_teams_graph_or_run_switches_into_its_workspace(team):
    """A link to a team's graph or run (an alert, a colleague's message) opens with the header on
    that team and the team's role shown, and Graphs and Runs then list the team's, not the personal."""
    from graphs.services import run_start

    runner = Client()
    runner.force_login(team.members["runner"])
    assert b"team graph" not in runner.get("/").content  # personal first
    run = run_start(graph=team.graph, user=team.members["admin"], inputs={"task": "x"})
    page = runner.get(f"/runs/{run.pk}/").content.decode()
    switcher = page.split('data-testid="workspace-switch"', 1)[1].split("</select>", 1)[0]
    assert re.search(rf'value="{team.workspace.pk}"[^>]*selected', switcher), "the switcher shows the run's workspace"
    assert b"team graph" in runner.get("/").content and f"/runs/{run.pk}/" in runner.get("/runs/").content.decode()
    # switching away from the run's page lands on the list (the run's page would switch back)
    personal = runner.post("/workspaces/switch/", {"workspace": team.members["runner"].memberships.exclude(
        workspace=team.workspace).get().workspace_id, "next": f"/runs/{run.pk}/"})
    assert personal["Location"] == "/runs/" and b"team graph" not in runner.get("/").content
    runner.get(f"/graphs/{team.graph.pk}/")
    # an outsider's graph is still a 404 and switches nothing
    assert runner.get(f"/graphs/{team.outsider_graph.pk}/").status_code == 404
    assert b"team graph" in runner.get("/").content


@pytest.mark.parametrize("role", ROLES)
def test_pages_by_role(team, role):
    client = Client()
    client.force_login(team.members[role])
    graph = team.graph
    assert client.get(f"/graphs/{graph.pk}/").status_code == 200
    assert client.get(f"/graphs/{graph.pk}/edit/").status_code == (200 if allowed(role, "edit") else 403)
    started = client.post(f"/graphs/{graph.pk}/run/", {"input_task": "t"})
    assert started.status_code == (302 if allowed(role, "run") else 403)
