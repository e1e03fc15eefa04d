"""Hostile and malformed input anywhere in the API: always a 4xx with a message, never a 500,
and nothing stored half-way."""

from __future__ import annotations

import itertools

import pytest

from graphs.models import Graph, GraphVersion, Run
from tests.helpers import chain

pytestmark = pytest.mark.django_db

JUNK = [None, 0, -1, 10**40, 1.5e308, True, "", "x" * 10_000, "\u0000\ud7ff\U0001f600", [], [[[[]]]], {"a": {"b": {"c": []}}}]  # ({} is a valid empty graph)
SPEC_JUNK = [
    {"nodes": "not a list"},
    {"nodes": [None]},
    {"nodes": [{"id": "a", "kind": "agent", "config": None}]},
    {"nodes": [{"id": "a", "kind": "agent", "config": {"signature": {"inputs": "x"}}}]},
    {"nodes": [{"id": "a", "kind": "agent", "config": {"signature": {"outputs": []}}}]},
    {"nodes": [{"id": "a", "kind": "agent", "position": {"x": "far"}}]},
    {"edges": [{"source": None}]},
    {"edges": [{"source": "a", "target": "b", "kind": "telepathy"}]},
    {"schema_version": 99},
    {"inputs": {"bad name!": {"type": "string"}}, "nodes": [], "edges": []},
    {"inputs": {"x": {"type": "tensor"}}},
    {"nodes": [{"id": f"n{i}", "kind": "agent"} for i in range(3)] * 2},
]


@pytest.mark.parametrize("body", JUNK + SPEC_JUNK)
def test_graph_create_never_500(api_client, body):
    for payload in ({"name": "g", "spec": body}, body):
        response = api_client.post("/api/graphs/", payload, format="json")
        assert 400 <= response.status_code < 500, (payload, response.status_code)
        assert response.data["detail"]
    assert Graph.objects.count() == 0 and GraphVersion.objects.count() == 0


@pytest.mark.parametrize("body", JUNK + SPEC_JUNK)
def test_graph_save_never_500_and_keeps_last_good(api_client, body):
    gid = api_client.post("/api/graphs/", {"name": "g", "spec": chain(1)}, format="json").data["id"]
    for payload in ({"spec": body}, {"spec": chain(1), "base_version": body}, body):
        response = api_client.put(f"/api/graphs/{gid}/", payload, format="json")
        assert 400 <= response.status_code < 500, (payload, response.status_code)
    assert GraphVersion.objects.filter(graph_id=gid).count() == 1


@pytest.mark.parametrize("field, value", list(itertools.product(["inputs", "version", "dry_run", "budget_usd"], JUNK)))
def test_run_start_never_500(api_client, field, value):
    gid = api_client.post("/api/graphs/", {"name": "g", "spec": chain(1)}, format="json").data["id"]
    payload = {"inputs": {"task": "x"}, field: value}
    response = api_client.post(f"/api/graphs/{gid}/runs/", payload, format="json")
    assert response.status_code < 500, (payload, response.status_code)
    if response.status_code >= 400:
        assert Run.objects.count() == 0


@pytest.mark.parametrize("query", ["after=-5", "after=abc", "after=99999999999999999999", "limit=0", "limit=-1", "limit=x"])
def test_event_query_never_500(api_client, query):
    gid = api_client.post("/api/graphs/", {"name": "g", "spec": chain(1)}, format="json").data["id"]
    rid = api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": "x"}}, format="json").data["id"]
    assert api_client.get(f"/api/runs/{rid}/events/?{query}").status_code < 500


@pytest.mark.parametrize("content_type, raw", [
    ("application/json", b"{"), ("application/json", b"\xff\xfe"), ("text/plain", b"hello"),
    ("application/x-www-form-urlencoded", b"name=g&spec=%7B"), ("application/json", b"[1,2,3]"), ("application/json", b"null"),
])
def test_unparseable_bodies(api_client, content_type, raw):
    response = api_client.generic("POST", "/api/graphs/", raw, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert Graph.objects.count() == 0


# --- issue 10, item 5: each of these was a 500 -------------------------------------------------------

DEEP = ("[" * 10_000 + "]" * 10_000).encode()


@pytest.mark.parametrize("url", ["/api/graphs/", "/api/graphs/validate/"])
@pytest.mark.parametrize("body", [DEEP, b'{"name": "g", "spec": ' + DEEP + b"}", b'{"a": ' * 5000 + b"1" + b"}" * 5000])
def test_deep_nesting_refused_before_parsing(api_client, url, body):
    response = api_client.generic("POST", url, body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert "nested deeper" in response.json()["detail"]
    assert Graph.objects.count() == 0


def test_reasonable_nesting_and_brackets_in_strings_still_parse(api_client):
    spec = chain(1)
    spec["nodes"][0]["config"]["instructions"] = "[[[[{{{{" * 1000 + "{{task}}"
    assert api_client.post("/api/graphs/", {"name": "g", "spec": spec}, format="json").status_code == 201


def test_delete_graph_with_runs_is_409_with_what_to_do(api_client):
    gid = api_client.post("/api/graphs/", {"name": "g", "spec": chain(1)}, format="json").data["id"]
    api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": "x"}}, format="json")
    response = api_client.delete(f"/api/graphs/{gid}/")
    assert response.status_code == 409 and response.json()["runs"] == 1
    assert "Rename the graph" in response.json()["detail"]
    assert Graph.objects.filter(pk=gid).exists()
    from audit.models import AuditEntry

    assert not AuditEntry.objects.filter(event="graph.deleted").exists()  # (nothing recorded half-way)
    empty = api_client.post("/api/graphs/", {"name": "e", "spec": chain(1)}, format="json").data["id"]
    assert api_client.delete(f"/api/graphs/{empty}/").status_code == 204


@pytest.mark.parametrize("query", ["page=" + "9" * 30, "page=0", "page=-3", "page=100001", "page=" + "1" * 5000,
                                   "run=" + "9" * 30, "graph=#" + "9" * 30, "user=" + "9" * 30])
def test_audit_query_numbers_are_bounded(api_client, client, user, query):
    response = api_client.get(f"/api/audit/entries/?{query}")
    assert response.status_code in (200, 400), (query, response.status_code)
    if query.startswith("page"):
        assert response.status_code == 400 and response.json()["errors"][0]["path"] == "page"
    client.force_login(user)
    assert client.get(f"/audit/?{query}").status_code == 200  # the page clamps instead


@pytest.mark.parametrize("method, url, payload", [
    ("post", "/api/graphs/", {"name": "g", "description": "a\u0000b", "spec": chain(1)}),
    ("post", "/api/graphs/", {"name": "g\u0000", "spec": chain(1)}),
    ("post", "/api/graphs/", {"name": "g", "spec": chain(1, system_prompt="step \u0000 {{task}}")}),
    ("post", "/api/graphs/validate/", {"spec": chain(1, system_prompt="\u0000")}),
    ("post", "/api/credentials/", {"name": "k\u0000", "api_key": "sk-1234567890"}),
])
def test_nul_refused_in_json_bodies(api_client, method, url, payload):
    response = getattr(api_client, method)(url, payload, format="json")
    assert response.status_code == 400 and "NUL" in response.json()["detail"]
    assert Graph.objects.count() == 0


def test_nul_refused_in_run_inputs_and_searches(api_client, client, user):
    gid = api_client.post("/api/graphs/", {"name": "g", "spec": chain(1)}, format="json").data["id"]
    response = api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": "x\u0000y"}}, format="json")
    assert response.status_code == 400 and Run.objects.count() == 0
    for query in ["q=a%00b", "node=%00", "event=run.%00", "status=%00", "user=%00"]:
        response = api_client.get(f"/api/audit/entries/?{query}")
        assert response.status_code == 400 and response.json()["detail"], query
    client.force_login(user)
    assert client.get("/audit/?q=a%00b").status_code == 400
    assert client.post(f"/graphs/{gid}/run/", "input_task=a%00b", content_type="application/x-www-form-urlencoded").status_code == 400
    assert Run.objects.count() == 0


def test_ten_megabytes_on_the_api_is_a_json_413(api_client):
    body = b'{"name": "g", "spec": {}, "description": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    response = api_client.generic("POST", "/api/graphs/", body, content_type="application/json")
    assert response.status_code == 413 and response["Content-Type"] == "application/json"
    assert "too large" in response.json()["detail"]


def test_strangers_get_404_exactly_like_missing_ids(api_client, other_user):
    from rest_framework.test import APIClient

    gid = api_client.post("/api/graphs/", {"name": "g", "spec": chain(1)}, format="json").data["id"]
    rid = api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": "x"}}, format="json").data["id"]
    stranger = APIClient()
    stranger.force_authenticate(other_user)
    for url in ["/api/graphs/{}/", "/api/graphs/{}/versions/", "/api/graphs/{}/runs/", "/api/graphs/{}/hooks/"]:
        theirs, missing = stranger.get(url.format(gid)), stranger.get(url.format(gid + 10_000))
        assert theirs.status_code == missing.status_code == 404 and theirs.json() == missing.json(), url
    for url in ["/api/runs/{}/", "/api/runs/{}/events/"]:
        theirs, missing = stranger.get(url.format(rid)), stranger.get(url.format(rid + 10_000))
        assert theirs.status_code == missing.status_code == 404 and theirs.json() == missing.json(), url
    assert stranger.delete(f"/api/graphs/{gid}/").status_code == 404
    assert stranger.post(f"/api/runs/{rid}/cancel/").status_code == 404


@pytest.mark.parametrize("graph", ["abc", "9" * 30, "-1"])
def test_run_list_page_graph_filter_never_500(client, user, graph):
    client.force_login(user)
    assert client.get(f"/runs/?graph={graph}").status_code == 200
