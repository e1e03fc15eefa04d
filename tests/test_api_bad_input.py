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
