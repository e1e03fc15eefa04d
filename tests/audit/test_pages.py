"""The audit table: combinable filters, exports that match them, and who may see what."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.audit.conftest import make_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(user):
    client = Client()
    client.force_login(user)
    return client


def _ids(response) -> list[int]:
    return [e.pk for e in response.context["entries"]]


def test_filters_combine(alice, entries):
    mine = entries[:6]
    by_run = {e.pk for e in mine if e.run_id == 101}
    assert set(_ids(alice.get("/audit/", {"run": "101"}))) == by_run
    both = {e.pk for e in mine if e.run_id == 101 and e.node_id == "n1"}
    assert both and set(_ids(alice.get("/audit/", {"run": "101", "node": "n1"}))) == both
    failed = {e.pk for e in mine if e.status == "failed" and e.event == "on_error"}
    assert set(_ids(alice.get("/audit/", {"status": "failed", "event": "on_error"}))) == failed
    today = entries[0].timestamp.date().isoformat()
    on_today = set(_ids(alice.get("/audit/", {"start": today, "end": today, "graph": "10", "show": "all"})))
    assert on_today == {e.pk for e in mine if e.timestamp.date().isoformat() == today}
    assert _ids(alice.get("/audit/", {"q": "step 3", "user": "alice", "show": "all"})) == [entries[3].pk]
    assert _ids(alice.get("/audit/", {"q": "step 3", "user": "bob", "show": "all"})) == []
    assert _ids(alice.get("/audit/", {"run": "not-a-number"})) == []


def test_free_text_is_case_insensitive_and_literal(alice, user):
    hit = make_entry(owner_id=user.pk, summary="Budget at 50% after step_2", node_id="Planner")
    make_entry(owner_id=user.pk, summary="budget at 500 after stepX2")
    assert _ids(alice.get("/audit/", {"q": "50% AFTER STEP_2", "show": "all"})) == [hit.pk]
    assert _ids(alice.get("/audit/", {"q": "planner", "show": "all"})) == [hit.pk]  # node ids are searched too


def test_htmx_request_returns_only_the_rows_and_filters_stay_in_the_links(alice, entries):
    response = alice.get("/audit/", {"graph": "10", "status": "failed"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="audit-rows")
    html = response.content.decode()
    assert "<form" not in html and "audit-table" in html
    assert "export.csv?graph=10&amp;status=failed" in html


def test_pagination_is_newest_first_without_gaps(alice, user):
    made = [make_entry(owner_id=user.pk, summary=f"e{i}") for i in range(120)]
    first, second, third = (alice.get("/audit/", {"page": p, "event": "post_node"}) for p in (1, 2, 3))
    assert _ids(first) == [e.pk for e in reversed(made)][:50]
    assert _ids(first) + _ids(second) + _ids(third) == [e.pk for e in reversed(made)]
    assert first.context["has_next"] and not third.context["has_next"]


def test_exports_match_the_filter(alice, entries):
    expected = sorted((e.pk for e in entries[:6] if e.status == "failed"), reverse=True)
    response = alice.get("/audit/export.csv", {"status": "failed"})
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == expected
    assert json.loads(rows[0]["data"]) == next(e.data for e in entries if e.pk == expected[0])
    lines = b"".join(alice.get("/audit/export.jsonl", {"status": "failed"}).streaming_content).decode().splitlines()
    parsed = [json.loads(line) for line in lines]
    assert [p["id"] for p in parsed] == expected and parsed[0]["node_id"] and isinstance(parsed[0]["data"], dict)


def test_a_user_never_sees_another_users_entries(alice, user, entries):
    bobs = entries[-1]
    assert bobs.pk not in _ids(alice.get("/audit/"))
    assert alice.get(f"/audit/{bobs.pk}/").status_code == 404
    assert alice.get(f"/audit/{entries[0].pk}/").status_code == 200
    exported = b"".join(alice.get("/audit/export.jsonl").streaming_content).decode()
    assert "bob secret" not in exported and exported.count('"graph_id":10') == 6
    api = APIClient()
    api.force_authenticate(user)
    body = api.get("/api/audit/entries/", {"event": "on_error"}).json()
    assert {r["id"] for r in body["results"]} == {e.pk for e in entries[:6] if e.event == "on_error"}


def test_staff_is_no_back_door(entries, django_user_model):
    """Staff read the entries of their own workspaces only (Django admin is their tool)."""
    staff = django_user_model.objects.create_user("root", password="pw-root-123", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    assert entries[-1].pk not in _ids(client.get("/audit/"))
    assert b"bob secret" not in b"".join(client.get("/audit/export.csv").streaming_content)
    assert client.get(f"/audit/{entries[-1].pk}/").status_code == 404


def test_detail_pretty_prints_the_json(alice, user):
    entry = make_entry(owner_id=user.pk, data={"answer": "forty-two", "nested": {"k": [1, 2]}})
    html = alice.get(f"/audit/{entry.pk}/").content.decode()
    assert '&quot;answer&quot;: &quot;forty-two&quot;' in html and '\n  &quot;nested&quot;: {' in html


def test_metrics_whole_deployment_for_the_token_own_workspaces_for_members(settings, alice, django_user_model):
    """The deployment's totals need the bearer token; a signed-in user (staff too) gets their
    workspaces' figures only, never the process instruments."""
    assert Client().get("/metrics").status_code == 401
    settings.KAIZEN_METRICS_TOKEN = "scrape-me"
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    whole = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert whole.status_code == 200 and b"kaizen_node_duration_seconds" in whole.content
    mine = alice.get("/metrics")
    assert mine.status_code == 200 and b"kaizen_runs" in mine.content and b"kaizen_node_duration_seconds" not in mine.content


def test_dashboard_and_metrics_render(settings, alice, entries, django_user_model):
    settings.KAIZEN_METRICS_TOKEN = "scrape-me"
    page = alice.get("/audit/dashboard/")
    assert page.status_code == 200 and b'id="audit-figures"' in page.content and b"chart.umd.min.js" in page.content
    assert b"<script>" not in page.content  # strict CSP: data travels in json_script, code in static files
    from audit import metrics as audit_metrics

    for replayed in (False, True):
        make_entry(event="post_llm_call", data={"model": "gpt-x", "prompt_tokens": 10, "completion_tokens": 5,
                                                "cost_usd": 0.25, **({"replayed": True} if replayed else {})})
    audit_metrics._database._cached = None  # the collector caches for a few seconds
    metrics = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    text = metrics.content.decode()
    assert metrics.status_code == 200 and "kaizen_runs" in text and "kaizen_events_published_total" in text
    assert 'kaizen_llm_cost_usd_total{model="gpt-x"} 0.25' in text  # the replayed call is not paid twice
    assert 'kaizen_llm_tokens_total{model="gpt-x",type="completion"} 5.0' in text
