"""The run page in Debian's chromium: nodes light up live, cost climbs, Cancel stops the run."""

from __future__ import annotations

import pytest

from graphs import services
from tests.helpers import chain, wait_for_run
from tests.live.conftest import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_nodes_turn_from_running_to_succeeded_and_cost_updates(user, celery_worker, daphne_server, fake_llm, browser_page):
    fake_llm.script(match="step 2", latency=1.5, prompt_tokens=1000, completion_tokens=200)
    fake_llm.script(latency=0.2)
    graph = services.graph_create(owner=user, name="live", spec=chain(3)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-node-row="s2"][data-state="running"]', timeout=15_000)
    page.wait_for_selector("#ws-indicator[data-state=live]", timeout=5_000)
    page.screenshot(path=str(SHOTS / "run-live-running.png"), full_page=True)
    page.wait_for_selector('[data-node-row="s2"][data-state="succeeded"]', timeout=15_000)
    page.wait_for_selector('[data-testid=run-status]:text("succeeded")', timeout=15_000)
    # the connection stays open, and the pill says the run has ended instead of "live"
    page.wait_for_selector("#ws-indicator[data-state=done]:text('finished')", timeout=5_000)
    assert page.text_content("[data-testid=run-cost]") != "$0.000000"
    assert page.is_disabled("[data-testid=cancel]") and page.is_disabled("[data-testid=resume]"), "nothing to cancel or resume"
    assert '"result"' in page.text_content("#run-outputs")
    seqs = [int(s) for s in page.eval_on_selector_all("#event-log li", "els => els.map(e => e.dataset.seq)")]
    assert seqs == list(range(1, len(seqs) + 1)), "the log shows every event once, in order"
    page.screenshot(path=str(SHOTS / "run-live-finished.png"), full_page=True)
    page.click('[data-node-row="s2"]')
    page.wait_for_selector("#node-detail .node-detail")
    assert "step 2" in page.text_content("#node-detail")
    assert page.csp_errors == []


def test_dropped_connection_reconnects_and_loses_nothing(user, celery_worker, daphne_server, fake_llm, browser_page):
    fake_llm.script(latency=0.5)
    graph = services.graph_create(owner=user, name="drop", spec=chain(4)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-node-row="s1"][data-state="succeeded"]', timeout=15_000)
    page.evaluate("window.kaizenRunLive.drop()")
    page.wait_for_selector('[data-testid=run-status]:text("succeeded")', timeout=30_000)
    seqs = [int(s) for s in page.eval_on_selector_all("#event-log li", "els => els.map(e => e.dataset.seq)")]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) == wait_for_run(run.pk).last_seq


def test_cancel_from_the_page(user, celery_worker, daphne_server, fake_llm, browser_page):
    fake_llm.script(match="step 2", latency=30)
    graph = services.graph_create(owner=user, name="cancel", spec=chain(3)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-node-row="s2"][data-state="running"]', timeout=15_000)
    page.click("[data-testid=cancel]")
    page.wait_for_selector('[data-testid=run-status]:text("cancelled")', timeout=10_000)
    assert wait_for_run(run.pk, 5).status == "cancelled"
    assert page.is_disabled("[data-testid=cancel]") and page.is_enabled("[data-testid=resume]")


def test_nested_nodes_get_rows_live_and_open_their_details(user, celery_worker, daphne_server, fake_llm, browser_page):
    """A for-each body's nodes (each/<i>/worker) appear under their for-each row while it runs."""
    from tests.helpers import agent, edge

    # long enough that a loaded machine's page load and websocket connect still see the calls in flight
    fake_llm.script(match="ITEM", latency=4)
    body = {"inputs": {"item": {"type": "string"}}, "outputs": {"answer": {"type": "string"}},
            "nodes": [agent("worker", ["item"], ["answer"], instructions="ITEM {{item}}")],
            "edges": [edge("@inputs", "item", "worker", "item"), edge("worker", "answer", "@outputs", "answer")]}
    spec = {"schema_version": 1, "inputs": {"items": {"type": "list"}}, "outputs": {"results": {"type": "list"}},
            "nodes": [{"id": "each", "kind": "for_each", "config": {"body": body}, "position": {"x": 0, "y": 0}}],
            "edges": [edge("@inputs", "items", "each", "items"), edge("each", "results", "@outputs", "results")]}
    graph = services.graph_create(owner=user, name="nested", spec=spec).graph
    run = services.run_start(graph=graph, user=user, inputs={"items": ["alpha", "beta"]})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-node-row="each/0/worker"][data-state="running"]', timeout=30_000)
    page.wait_for_selector('[data-node-row="each/1/worker"]', timeout=10_000)
    rows = page.eval_on_selector_all("[data-node-row]", "els => els.map(e => e.dataset.nodeRow)")
    assert rows == ["each", "each/0/worker", "each/1/worker"], rows  # natural order, whichever started first
    page.wait_for_selector('[data-testid=run-status]:text("succeeded")', timeout=40_000)
    assert page.get_attribute('[data-node-row="each/1/worker"]', "data-state") == "succeeded"
    assert page.text_content('[data-node-row="each/1/worker"] [data-field=tokens]') != "0"
    page.screenshot(path=str(SHOTS / "run-nested-rows.png"), full_page=True)
    page.click('[data-node-row="each/1/worker"]')
    page.wait_for_selector("#node-detail .node-detail")
    assert "ITEM beta" in page.text_content("#node-detail")
    page.reload()  # the finished run renders the same rows from the database
    rows = page.eval_on_selector_all("[data-node-row]", "els => els.map(e => e.dataset.nodeRow)")
    assert rows == ["each", "each/0/worker", "each/1/worker"], rows
    assert page.csp_errors == []
