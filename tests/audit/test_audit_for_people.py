"""The audit log for people: it opens on what people did and how runs ended, objects by name with
links, times as "just now"; checkpoints and LLM calls are one choice away."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from audit.templatetags.audit_time import ago
from tests.audit.conftest import make_entry
from tests.live.conftest import SHOTS

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_relative_times_read_naturally():
    now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=5), now) == "just now"
    assert ago(now - timedelta(minutes=3), now) == "3 min ago"
    assert ago(now - timedelta(hours=2, minutes=10), now) == "2 h ago"
    assert ago(now - timedelta(hours=8), now) == "today 07:00"
    assert ago(now - timedelta(hours=20), now) == "yesterday 19:00"
    assert ago(now - timedelta(days=30), now) == "2026-11-03 15:00"


@pytest.fixture
def a_run(user):
    """A graph and a run (its actions recorded by the real services), with the run's step events."""
    from graphs import services
    from tests.helpers import chain

    graph = services.graph_create(owner=user, name="Support triage", spec=chain(1)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    common = {"owner_id": user.pk, "actor": user, "actor_name": "alice", "graph_id": graph.pk, "run_id": run.pk,
              "object_type": "run", "object_id": str(run.pk)}
    for i in range(30):  # the noise that used to fill the first page
        make_entry(**common, node_id="s1", event="post_checkpoint_save", status="", summary=f"checkpoint {i}")
    make_entry(**common, node_id="s1", event="post_llm_call", status="", summary="gpt-4o-mini 10+5 tokens")
    make_entry(**common, event="run_finished", status="succeeded", summary="succeeded, $0.0001, 15 tokens")
    return graph, run


@pytest.mark.browser
def test_default_view_is_people_and_outcomes(a_run, audit_page):
    from playwright.sync_api import expect

    graph, run = a_run
    page = audit_page
    page.goto(f"{page.base_url}/audit/")
    events = page.locator("[data-testid=audit-event]").all_inner_texts()
    assert set(events) == {"graph.created", "run.started", "run_finished"}, events  # (sign-ins are the user's: below)
    assert page.locator("[data-testid=account] li").count() >= 1
    objects = page.locator("[data-testid=audit-object]").all_inner_texts()
    assert "Support triage" in objects and f"Run #{run.pk} of Support triage" in objects, objects
    assert page.get_attribute(f'[data-testid=audit-object] a:text("Run #{run.pk} of Support triage")', "href") == f"/runs/{run.pk}/"
    assert page.get_attribute('[data-testid=audit-object] a:text-is("Support triage")', "href") == f"/graphs/{graph.pk}/"
    assert "just now" in page.locator(".audit-table").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "audit-people.png"), full_page=True)
    page.evaluate("window.__marker = 1")
    page.select_option("[data-testid=audit-show]", "checkpoints")  # one choice away, no reload
    page.wait_for_url("**/audit/?*show=checkpoints*")
    page.locator("[data-testid=audit-event]").nth(29).wait_for()  # (the page's CSP forbids string predicates)
    assert set(page.locator("[data-testid=audit-event]").all_inner_texts()) == {"post_checkpoint_save"}
    assert page.evaluate("window.__marker") == 1
    page.select_option("[data-testid=audit-show]", "llm")
    expect(page.locator("[data-testid=audit-event]")).to_have_count(1)
    assert page.locator("[data-testid=audit-event]").all_inner_texts() == ["post_llm_call"]


def test_what_admins_do_is_in_the_default_view_and_deleting_a_key_is_audited(client, user, other_user):
    """Publishing, keys (deleting one too), MCP servers, workspaces and members are
    people's actions: the log opens on them, not one choice away."""
    from graphs import services
    from graphs.connections import credential_delete
    from graphs.credentials import credential_set
    from graphs.mcp_servers import mcp_server_set
    from tests.helpers import chain
    from workspaces.services import member_add, workspace_create

    team = workspace_create(user=user, name="Support team")
    member_add(workspace=team, by=user, who=other_user.username)
    graph = services.graph_create(owner=user, name="Triage", spec=chain(1)).graph
    services.graph_publish(graph=graph, user=user, number=1)
    personal = graph.workspace
    key, _ = credential_set(owner=user, workspace=personal, name="docs-key", api_key="sk-test-0123456789abcd",
                            allowed_hosts=["mcp.example.com"])
    mcp_server_set(owner=user, workspace=personal, name="research-docs", url="https://mcp.example.com/mcp")
    credential_delete(credential=key, user=user)
    client.force_login(user)
    shown = set(re.findall(r'data-testid="audit-event"[^>]*>([^<]+)<', client.get("/audit/?show=&per_page=100").content.decode()))
    shown |= set(re.findall(r'data-testid="audit-event"[^>]*>([^<]+)<', client.get(f"/audit/?workspace={team.pk}").content.decode()))
    for event in ("graph.published", "credential.added", "credential.deleted", "mcp_server.added", "workspace.created",
                  "member.added"):
        assert event in shown, (event, shown)
    from audit.models import AuditEntry
    deleted = AuditEntry.objects.get(event="credential.deleted")
    assert deleted.actor_id == user.pk and deleted.workspace_id == personal.pk and "docs-key" in deleted.summary
    assert "0123456789" not in deleted.summary  # (the hint only)
