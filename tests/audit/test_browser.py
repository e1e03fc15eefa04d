"""The audit page in Chromium: filter without a full reload (URL updated), open an entry."""

from __future__ import annotations

import os

import pytest

from tests.audit.conftest import make_entry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = os.environ.get("AUDIT_SCREENSHOTS", "")


@pytest.fixture
def seeded(user):
    """Rows written before Playwright starts (its event loop forbids ORM calls in the test body)."""
    for i in range(8):
        make_entry(owner_id=user.pk, actor=user, actor_name="alice", graph_id=3, run_id=30 + i % 2, node_id=f"agent{i % 2}",
                   event="on_error" if i == 5 else "post_node", status="failed" if i == 5 else "succeeded",
                   summary=f"node finished {i}" if i != 5 else "llm_error: upstream 503", data={"i": i, "answer": "hello"})


def test_filter_the_audit_page_and_open_an_entry(seeded, audit_page):
    page = audit_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{page.base_url}/audit/?show=all")  # (node events: not in the default view)
    assert page.locator(".audit-table tbody tr").count() >= 8
    page.evaluate("window.__marker = 1")  # survives only if the page is not reloaded
    page.select_option("select[name=event]", "on_error")
    page.wait_for_url("**/audit/?*event=on_error*")
    page.wait_for_function("document.querySelectorAll('.audit-table tbody tr').length === 1")
    assert page.evaluate("window.__marker") == 1, "htmx swapped the rows, no full reload"
    assert "upstream 503" in page.locator(".audit-table").inner_text()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/audit-list.png", full_page=True)
    page.locator("a.audit-open").first.click()
    page.wait_for_url("**/audit/*/**")
    data = page.locator("#audit-data").inner_text()
    assert '"answer": "hello"' in data and '"i": 5' in data
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/audit-detail.png", full_page=True)
        page.goto(f"{page.base_url}/audit/dashboard/")
        page.wait_for_timeout(500)
        page.screenshot(path=f"{SHOTS}/audit-dashboard.png", full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e], errors


@pytest.fixture
def hooked_graph(user):
    from audit.models import GraphHook, HookDelivery
    from graphs import services
    from tests.helpers import chain

    graph = services.graph_create(owner=user, name="support triage", spec=chain(2)).graph
    hook = GraphHook.objects.create(graph=graph, kind="webhook", url="http://127.0.0.1:9/hook", events=["run_finished"])
    HookDelivery.objects.create(hook=hook, delivery_id="d1", event="run_finished", run_id=1, attempt=1, status_code=500,
                                error="HTTP 500", next_retry_s=2.0, duration_ms=12)
    return graph


def test_add_a_hook_from_the_graph_page(hooked_graph, audit_page):
    page = audit_page
    page.goto(f"{page.base_url}/graphs/{hooked_graph.pk}/")
    page.wait_for_selector("#graph-hooks .hook-list li")
    assert "HTTP 500" in page.locator("#graph-hooks").inner_text()  # the failed attempt is visible
    page.select_option("#graph-hooks select[name=kind]", "slow_node")
    page.fill("#graph-hooks input[name=threshold_ms]", "1500")
    page.click("#graph-hooks button.btn-primary")
    page.wait_for_selector("#hook-secret")
    text = page.locator("#graph-hooks").inner_text()
    assert "over 1500 ms" in text and len(page.locator("#hook-secret").inner_text().strip()) > 20
    if SHOTS:
        page.locator("#graph-hooks").screenshot(path=f"{SHOTS}/graph-hooks.png")
