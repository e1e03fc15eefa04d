"""The REST API: create/save/version graphs, start runs, and every bad input gets a 4xx
with a field path — never a 500, never a half-stored graph."""

from __future__ import annotations

import pytest
from django.test.utils import CaptureQueriesContext  # noqa: F401

from graphs.models import Graph, GraphVersion, Run
from tests.helpers import chain

pytestmark = pytest.mark.django_db


def create(api_client, spec=None, name="g"):
    return api_client.post("/api/graphs/", {"name": name, "spec": spec or chain(2)}, format="json")


def test_create_and_read_graph(api_client):
    response = create(api_client)
    assert response.status_code == 201, response.data
    assert response.data["version"] == 1
    body = api_client.get(f"/api/graphs/{response.data['id']}/").data
    assert body["spec"]["nodes"][0]["id"] == "s1"


def test_every_save_is_a_version_and_a_failed_save_keeps_the_last_good_one(api_client):
    gid = create(api_client).data["id"]
    ok = api_client.put(f"/api/graphs/{gid}/", {"spec": chain(3), "base_version": 1}, format="json")
    assert ok.status_code == 200 and ok.data["version"] == 2
    bad = chain(3)
    bad["nodes"][1]["config"]["temperature"] = 7
    response = api_client.put(f"/api/graphs/{gid}/", {"spec": bad, "base_version": 2}, format="json")
    assert response.status_code == 400
    assert response.data["errors"][0]["path"] == "spec.nodes[1].config.temperature"
    assert response.data["errors"][0]["node"] == "s2"
    assert GraphVersion.objects.filter(graph_id=gid).count() == 2
    assert len(api_client.get(f"/api/graphs/{gid}/").data["spec"]["nodes"]) == 3


def test_stale_save_is_refused(api_client):
    gid = create(api_client).data["id"]
    assert api_client.put(f"/api/graphs/{gid}/", {"spec": chain(3), "base_version": 1}, format="json").status_code == 200
    stale = api_client.put(f"/api/graphs/{gid}/", {"spec": chain(4), "base_version": 1}, format="json")
    assert stale.status_code == 409 and "saved by alice" in stale.data["detail"]


def test_versions_and_restore(api_client):
    gid = create(api_client).data["id"]
    api_client.put(f"/api/graphs/{gid}/", {"spec": chain(3)}, format="json")
    versions = api_client.get(f"/api/graphs/{gid}/versions/").data
    assert [v["number"] for v in versions] == [2, 1]
    restored = api_client.post(f"/api/graphs/{gid}/versions/1/restore/")
    assert restored.status_code == 200 and restored.data["version"] == 3
    assert len(restored.data["spec"]["nodes"]) == 2


@pytest.mark.parametrize(
    "payload, path",
    [
        ({"name": "g"}, "spec"),
        ({"spec": {}}, "name"),
        ({"name": "g", "spec": "nope"}, "spec"),
        ({"name": "g", "spec": {"nodes": [{"id": "a", "kind": "agent", "config": {"model": 3}}]}}, "spec.nodes[0].config.model"),
        ({"name": "g", "spec": {"nodes": [], "bogus": 1}}, "spec.bogus"),
        ({"name": "g", "spec": {}, "extra": True}, "extra"),
        ({"name": "x" * 500, "spec": {}}, "name"),
    ],
)
def test_bad_graph_input_is_400_with_a_path(api_client, payload, path):
    response = api_client.post("/api/graphs/", payload, format="json")
    assert response.status_code == 400, response.data
    assert path in [e["path"] for e in response.data["errors"]], response.data
    assert Graph.objects.count() == 0


def test_malformed_json_body(api_client):
    response = api_client.generic("POST", "/api/graphs/", "{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON" in response.data["detail"]


def test_huge_document_is_refused(api_client):
    spec = chain(1)
    spec["description"] = "x" * (5 * 1024 * 1024 + 10)
    response = api_client.post("/api/graphs/", {"name": "big", "spec": spec}, format="json")
    assert response.status_code in (400, 413)
    assert Graph.objects.count() == 0


def test_unknown_ids_are_404(api_client):
    assert api_client.get("/api/graphs/999/").status_code == 404
    assert api_client.get("/api/runs/999/").status_code == 404
    assert api_client.post("/api/graphs/999/runs/", {}, format="json").status_code == 404


def test_other_users_objects_are_404_like_missing_ones(api_client, other_user):
    from rest_framework.test import APIClient

    gid = create(api_client).data["id"]
    run = api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": "x"}}, format="json").data
    intruder = APIClient()
    intruder.force_authenticate(other_user)
    assert intruder.get(f"/api/graphs/{gid}/").status_code == 404
    assert intruder.put(f"/api/graphs/{gid}/", {"spec": chain(1)}, format="json").status_code == 404
    assert intruder.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": "x"}}, format="json").status_code == 404
    assert intruder.get(f"/api/runs/{run['id']}/").status_code == 404
    assert intruder.get(f"/api/runs/{run['id']}/events/").status_code == 404
    assert intruder.post(f"/api/runs/{run['id']}/cancel/").status_code == 404
    assert intruder.get("/api/graphs/").data == []


def test_anonymous_is_refused():
    from rest_framework.test import APIClient

    assert APIClient().get("/api/graphs/").status_code in (401, 403)


def test_run_input_errors(api_client):
    gid = create(api_client).data["id"]
    missing = api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {}}, format="json")
    assert missing.status_code == 400 and missing.data["errors"][0]["path"] == "inputs.task"
    wrong = api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": 5}}, format="json")
    assert wrong.status_code == 400 and wrong.data["errors"][0]["message"] == "must be string"
    unknown = api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": "x", "zzz": 1}}, format="json")
    assert unknown.status_code == 400 and unknown.data["errors"][0]["path"] == "inputs.zzz"
    budget = api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": "x"}, "budget_usd": -1}, format="json")
    assert budget.status_code == 400 and budget.data["errors"][0]["path"] == "budget_usd"
    assert Run.objects.count() == 0


def test_run_is_queued_and_enqueued_after_commit(api_client, django_capture_on_commit_callbacks):
    gid = create(api_client).data["id"]
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": "x"}}, format="json")
    assert response.status_code == 202 and response.data["status"] == "queued"
    assert len(callbacks) == 1  # the message goes out only once the row is committed


def test_cancel_a_queued_run_and_resume_it(api_client, django_capture_on_commit_callbacks):
    gid = create(api_client).data["id"]
    with django_capture_on_commit_callbacks():
        rid = api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": "x"}}, format="json").data["id"]
    cancelled = api_client.post(f"/api/runs/{rid}/cancel/")
    assert cancelled.status_code == 202 and cancelled.data["status"] == "cancelled"
    assert api_client.post(f"/api/runs/{rid}/cancel/").status_code == 409
    with django_capture_on_commit_callbacks() as callbacks:
        resumed = api_client.post(f"/api/runs/{rid}/resume/", {}, format="json")
    assert resumed.status_code == 202 and resumed.data["status"] == "queued" and len(callbacks) == 1


def test_schemas_are_served(api_client):
    graph_schema = api_client.get("/api/schema/graph/").data
    assert "agent" in graph_schema["x-node-kinds"] and "nodes" in graph_schema["properties"]
    kinds = api_client.get("/api/node-kinds/").data
    assert any(k["kind"] == "agent" and k["ports"]["dynamic_inputs"] == "signature.inputs" for k in kinds)
    openapi = api_client.get("/api/schema/")
    assert openapi.status_code == 200 and b"/api/graphs/" in openapi.content


def test_validate_endpoint(api_client):
    doc = chain(1)
    doc["nodes"][0]["kind"] = "nope"
    body = api_client.post("/api/graphs/validate/", {"spec": doc}, format="json").data
    assert body["valid"] is False and body["errors"][0]["path"] == "nodes[0].kind"


def test_validate_endpoint_gives_exact_ports(api_client):
    doc = chain(2)
    body = api_client.post("/api/graphs/validate/", {"spec": doc}, format="json").data
    assert body["valid"] is True
    assert set(body["ports"]["s1"]["inputs"]) == {"task"} and set(body["ports"]["s1"]["outputs"]) == {"result"}


def test_stale_save_says_who_saved_the_newer_version(api_client, user):
    gid = create(api_client).data["id"]
    api_client.put(f"/api/graphs/{gid}/", {"spec": chain(3), "base_version": 1}, format="json")
    stale = api_client.put(f"/api/graphs/{gid}/", {"spec": chain(4), "base_version": 1}, format="json")
    assert stale.status_code == 409
    assert stale.data["latest_version"] == 2 and stale.data["saved_by"] == user.username and stale.data["saved_at"]


def test_the_graph_and_its_document_share_one_description(api_client):
    """The list shows the graph's description, the editor the document's: they are one text. Given
    at creation it goes into the document; a document's own comes out in the list; a saved document
    without one keeps the graph's."""
    spec = chain(2)
    spec["description"] = "from the document"
    made = api_client.post("/api/graphs/", {"name": "g", "description": "for the list", "spec": spec}, format="json").data
    assert (made["description"], made["spec"]["description"]) == ("for the list", "for the list")
    gid = made["id"]
    assert api_client.post("/api/graphs/", {"name": "h", "spec": spec}, format="json").data["description"] == "from the document"
    edited = chain(3)
    edited["description"] = "edited in the editor"
    assert api_client.put(f"/api/graphs/{gid}/", {"spec": edited, "base_version": 1}, format="json").status_code == 200
    body = api_client.get(f"/api/graphs/{gid}/").data
    assert (body["description"], body["spec"]["description"]) == ("edited in the editor", "edited in the editor")
    assert api_client.put(f"/api/graphs/{gid}/", {"spec": chain(3), "base_version": 2}, format="json").status_code == 200
    body = api_client.get(f"/api/graphs/{gid}/").data
    assert (body["description"], body["spec"]["description"]) == ("edited in the editor", "edited in the editor")
    assert Graph.objects.get(pk=gid).description == "edited in the editor"
