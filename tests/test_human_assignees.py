"""Per-person assignment of human nodes: a node's ``assignees`` (members by username or email, or
role:<role>) decide who may answer (others 403 with the reason), whose "Waiting for you" lists the
run, and what the run page says; named people must be members of the graph's workspace at save
(400 with the field path). Runs park through the worker's own code path (execute_run, in process)."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from graphs.models import Run
from graphs.runner.execution import execute_run
from graphs.services import ServiceError, graph_create, graph_save
from tests.helpers import edge
from workspaces.models import Membership, Role
from workspaces.services import workspace_create

pytestmark = pytest.mark.django_db(transaction=True)


def approval_only(**config):
    """@inputs.task -> approve -> @outputs (approved / rejected): no model call."""
    return {"inputs": {"task": {"type": "string"}},
            "outputs": {"approved": {"type": "string", "required": False}, "rejected": {"type": "string", "required": False}},
            "nodes": [{"id": "approve", "kind": "approval", "position": {"x": 300, "y": 0},
                       "config": {"inputs": [{"name": "subject", "type": "string"}], **config}}],
            "edges": [edge("@inputs", "task", "approve", "subject"), edge("approve", "approved", "@outputs", "approved"),
                      edge("approve", "rejected", "@outputs", "rejected")]}


@pytest.fixture
def crew(django_user_model):
    """A workspace with an admin, two runners, an editor and a viewer."""
    users = {}
    for name in ("boss", "rita", "rob", "eddie", "vera"):
        users[name] = django_user_model.objects.create_user(name, email=f"{name.title()}@Example.com", password="pw-123456")
    workspace = workspace_create(user=users["boss"], name="Crew")
    for name, role in (("rita", Role.RUNNER), ("rob", Role.RUNNER), ("eddie", Role.EDITOR), ("vera", Role.VIEWER)):
        Membership.objects.create(workspace=workspace, user=users[name], role=role)
    return workspace, users


def parked(crew, **config) -> Run:
    workspace, users = crew
    version = graph_create(owner=users["boss"], workspace=workspace, name="approve", spec=approval_only(**config))
    run = Run.objects.create(graph=version.graph, version=version, created_by=users["boss"], inputs={"task": "t"})
    assert execute_run(run.pk) == "waiting", Run.objects.get(pk=run.pk).error
    return Run.objects.get(pk=run.pk)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def answer(user, run, action="approve"):
    return client_for(user).post(f"/api/runs/{run.pk}/answer/", {"node": "approve", "answer": {"action": action}}, format="json")


def waiting_ids(user) -> list[int]:
    return [r["id"] for r in client_for(user).get("/api/runs/?waiting=me").data]


def test_a_named_person_answers_and_others_get_403_with_the_reason(crew):
    workspace, users = crew
    run = parked(crew, assignees=["rita"])
    refused = answer(users["rob"], run)
    assert refused.status_code == 403, refused.data
    assert refused.data["detail"] == "approve is assigned to rita: only they or a workspace admin may answer it"
    assert answer(users["eddie"], run).status_code == 403  # an editor is not asked either
    assert Run.objects.get(pk=run.pk).status == "waiting" and not run.answers.exists()
    # "Waiting for you": only rita's (and the admin's: admins may answer everything)
    assert waiting_ids(users["rita"]) == [run.pk] and waiting_ids(users["boss"]) == [run.pk]
    assert waiting_ids(users["rob"]) == [] and waiting_ids(users["eddie"]) == []
    assert answer(users["rita"], run).status_code == 202
    assert execute_run(run.pk) == "succeeded"
    assert Run.objects.get(pk=run.pk).outputs == {"approved": "t"}


def test_by_email_in_any_case_and_a_named_viewer_may_answer(crew):
    _workspace, users = crew
    run = parked(crew, assignees=["VERA@example.COM"])
    assert waiting_ids(users["vera"]) == [run.pk] and waiting_ids(users["rita"]) == []
    assert answer(users["rita"], run).status_code == 403
    assert answer(users["vera"], run, "reject").status_code == 202, "being asked is the permission, whatever the role"
    assert execute_run(run.pk) == "succeeded" and Run.objects.get(pk=run.pk).outputs == {"rejected": "t"}


def test_a_role_means_that_role_and_above(crew):
    _workspace, users = crew
    run = parked(crew, assignees=["role:editor"])
    assert {u: bool(waiting_ids(users[u])) for u in users} == {"boss": True, "rita": False, "rob": False, "eddie": True, "vera": False}
    refused = answer(users["rita"], run)
    assert refused.status_code == 403 and "an editor or above" in refused.data["detail"]
    assert answer(users["eddie"], run).status_code == 202


def test_the_admin_may_always_answer(crew):
    _workspace, users = crew
    run = parked(crew, assignees=["rita"])
    assert answer(users["boss"], run).status_code == 202


def test_no_assignees_is_whoever_may_run_the_graph(crew):
    _workspace, users = crew
    run = parked(crew)
    assert {u: bool(waiting_ids(users[u])) for u in users} == {"boss": True, "rita": True, "rob": True, "eddie": True, "vera": False}
    refused = answer(users["vera"], run)
    assert refused.status_code == 403 and "runner role" in refused.data["detail"]
    assert answer(users["rob"], run).status_code == 202


def test_outsiders_still_get_404(crew, django_user_model):
    run = parked(crew, assignees=["rita"])
    stranger = django_user_model.objects.create_user("rita2", email="rita@example.com", password="pw-123456")
    assert answer(stranger, run).status_code == 404, "same email, not a member: the run does not exist for them"


def test_the_run_page_says_who_is_asked_and_shows_the_form_only_to_them(crew):
    from django.test import Client

    _workspace, users = crew
    run = parked(crew, assignees=["rita", "role:admin"])

    def page(user) -> tuple[str, dict]:
        client = Client()
        client.force_login(user)
        html = client.get(f"/runs/{run.pk}/").content.decode()
        config = json.loads(html.split('id="run-config" type="application/json">', 1)[1].split("</script>", 1)[0])
        return html, config

    html, config = page(users["rita"])
    assert "Waiting for you" in html
    assert config["waiting"]["approve"]["asked"] == "rita or an admin"
    assert config["waiting"]["approve"]["may_answer"] is True and config["waiting"]["approve"]["assignees"] == ["rita", "role:admin"]
    html, config = page(users["rob"])
    assert "Waiting for you" not in html and "Waiting for an answer" in html
    assert config["waiting"]["approve"]["may_answer"] is False
    assert config["answerer"]["username"] == "rob" and config["answerer"]["role"] == Role.RUNNER


def test_named_assignees_must_be_members_of_the_graphs_workspace(crew, django_user_model):
    workspace, users = crew
    django_user_model.objects.create_user("nomad", email="nomad@example.com", password="pw-123456")
    with pytest.raises(ServiceError) as refused:
        graph_create(owner=users["boss"], workspace=workspace, name="g",
                     spec=approval_only(assignees=["rita", "nomad", "role:runner", "ghost@example.com"]))
    assert [(i.path, i.node) for i in refused.value.issues] == [
        ("spec.nodes[0].config.assignees[1]", "approve"), ("spec.nodes[0].config.assignees[3]", "approve")]
    assert "not a member of the workspace 'Crew'" in refused.value.issues[0].message
    # through the API: a 400 with the field path, on save as on create
    graph = graph_create(owner=users["boss"], workspace=workspace, name="g", spec=approval_only(assignees=["rita"])).graph
    response = client_for(users["eddie"]).put(f"/api/graphs/{graph.pk}/", {"spec": approval_only(assignees=["nomad"])}, format="json")
    assert response.status_code == 400, response.data
    assert [e["path"] for e in response.data["errors"]] == ["spec.nodes[0].config.assignees[0]"]
    # the editor's live check says it too
    checked = client_for(users["eddie"]).post(f"/api/graphs/validate/?workspace={workspace.pk}",
                                              {"spec": approval_only(assignees=["nomad"])}, format="json").data
    assert checked["valid"] is False and checked["errors"][0]["path"] == "nodes[0].config.assignees[0]"
    with pytest.raises(ServiceError):
        graph_save(graph=graph, user=users["boss"], spec=approval_only(assignees=["role:boss"]))


def test_a_human_node_in_a_for_each_body_is_refused_at_save(crew):
    workspace, users = crew
    body = {"inputs": {"item": {"type": "any"}}, "outputs": {}, "edges": [],
            "nodes": [{"id": "ask", "kind": "approval", "position": {"x": 0, "y": 0}, "config": {}}]}
    spec = {"inputs": {"items": {"type": "list"}}, "outputs": {"results": {"type": "list"}},
            "nodes": [{"id": "each", "kind": "for_each", "position": {"x": 0, "y": 0}, "config": {"body": body}}],
            "edges": [edge("@inputs", "items", "each", "items"), edge("each", "results", "@outputs", "results")]}
    response = client_for(users["eddie"]).post("/api/graphs/", {"name": "nested", "spec": spec}, format="json",
                                               HTTP_X_KAIZEN_WORKSPACE=str(workspace.pk))
    assert response.status_code == 400, response.data
    errors = response.data["errors"]
    assert [(e["path"], e["node"]) for e in errors] == [("spec.nodes[0].config.body.nodes[0]", "each")], errors
    assert "cannot wait for a person" in errors[0]["message"]


def test_waiting_for_you_lists_runs_of_every_workspace_of_yours(crew):
    """rita works in her personal workspace (the switcher's choice): the run waiting for her in the
    crew's workspace is still on her "Waiting for you" page; the plain runs list stays per workspace."""
    from django.test import Client

    _workspace, users = crew
    run = parked(crew, assignees=["rita"])
    page = Client()
    page.force_login(users["rita"])
    assert f'href="/runs/{run.pk}/"' in page.get("/runs/?waiting=me").content.decode()
    assert f'href="/runs/{run.pk}/"' not in page.get("/runs/").content.decode(), "the list is the personal workspace's"
    rob = Client()
    rob.force_login(users["rob"])
    assert f'href="/runs/{run.pk}/"' not in rob.get("/runs/?waiting=me").content.decode()
