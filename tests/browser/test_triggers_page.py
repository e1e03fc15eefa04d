"""Triggers and schedules on the graph's page (htmx), and Publish in the editor's history, in chromium."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from graphs import services as graph_services
from tests.browser.conftest import SHOTS, open_editor
from tests.helpers import chain
from triggers.models import Schedule, WebhookTrigger

pytestmark = pytest.mark.browser


def published_graph(owner):
    graph = graph_services.graph_create(owner=owner, name="Triage", spec=chain(1)).graph
    graph_services.graph_publish(graph=graph, user=owner, number=1)
    return graph


def call(url: str, token: str) -> int:
    request = urllib.request.Request(url, method="POST", data=json.dumps({"task": "x"}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_triggers_and_schedules_on_the_graph_page(login_context, editor_user, live_server):
    graph = published_graph(editor_user)
    ctx, problems = login_context(editor_user)
    page = ctx.new_page()
    page.goto(f"/graphs/{graph.pk}/")
    panel = page.get_by_test_id("graph-triggers")
    panel.locator("text=No webhook triggers yet").wait_for()
    expect(panel).to_contain_text("They run version 1 (published)")

    panel.locator("summary", has_text="New trigger").click()
    form = page.get_by_test_id("trigger-form")
    form.locator("input[name=name]").fill("issue tracker")
    form.locator("select[name=mode]").select_option("wait")
    form.locator("textarea[name=mapping]").fill("task = /issue/title")
    form.locator("button", has_text="Add trigger").click()
    secret = page.locator("#trigger-secret")
    secret.wait_for()
    token = secret.text_content().strip()
    trigger = WebhookTrigger.objects.get(graph=graph)
    assert token.startswith("kzt_") and trigger.mapping == {"task": "/issue/title"} and trigger.mode == "wait"
    row = panel.locator(f'[data-trigger="{trigger.pk}"]')
    row.locator("button", has_text="Copy URL").click()
    url = live_server.url + trigger.path
    assert page.evaluate("navigator.clipboard.readText()") == url

    assert [call(url, f"kzt_not-the-secret-{i}") for i in range(3)] == [401, 401, 401]
    panel.locator("summary", has_text="New schedule").click()
    form = page.get_by_test_id("schedule-form")
    form.locator("input[name=name]").fill("weekday mornings")
    form.locator("input[name=cron]").fill("30 8 * * mon-fri")
    form.locator("input[name=timezone]").fill("Europe/Paris")
    form.locator("textarea[name=inputs]").fill('{"task": "morning triage"}')
    form.locator("button", has_text="Add schedule").click()
    firings = panel.get_by_test_id("next-firings")
    firings.wait_for()
    expect(firings.locator("time")).to_have_count(3)
    expect(firings).to_contain_text("08:30:00 Europe/Paris")
    expect(panel.get_by_test_id("trigger-calls")).to_contain_text("401: wrong token")
    expect(panel.get_by_test_id("refusals-folded")).to_have_text("× 3")  # one audit row for the three
    assert "kzt_" not in panel.inner_text().replace(token[:4] + "…", ""), "the secret is shown once"
    assert Schedule.objects.get(graph=graph).inputs == {"task": "morning triage"}
    SHOTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SHOTS / "graph-triggers-panel.png"))

    row.locator("button", has_text="Disable").click()
    panel.locator(f'[data-trigger="{trigger.pk}"] .badge', has_text="disabled").wait_for()
    assert call(url, token) == 410
    problems.check()


def test_publish_from_the_editor_history(login_context, editor_user):
    graph = published_graph(editor_user)
    graph_services.graph_save(graph=graph, user=editor_user, spec=chain(2), message="two steps")
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    page.click("text=History")
    page.locator('[data-version="2"]', has_text="two steps").wait_for()
    expect(page.get_by_test_id("published-version")).to_have_count(1)
    page.click('[data-version="2"]')
    page.get_by_test_id("publish-version").click()
    page.locator(".kz-toast", has_text="Published version 2").first.wait_for(timeout=8_000)
    page.locator('li:has([data-version="2"]) [data-testid=published-version]').wait_for()
    page.screenshot(path=str(SHOTS / "editor-publish.png"))
    graph.refresh_from_db()
    assert graph.published_version == 2
    problems.check()
