"""The audit log for people: it opens on what people did and how runs ended, objects by name with
links, times as "just now"; checkpoints and LLM calls are one choice away."""

from __future__ import annotations

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
    assert page.locator("[data-testid=sign-ins] li").count() >= 1
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
