"""Live equals reload: whatever way a run ends, the page that watched it live shows exactly what a
fresh load of it shows (node states, error box, outputs, status, cost, the event log)."""

from __future__ import annotations

import pytest

from graphs import services
from tests.helpers import agent, edge, wait_for_run
from tests.live.conftest import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What a person sees on the run page, read from its DOM.
PAGE_STATE = """() => {
  const box = (id) => document.getElementById(id);
  return {
    status: document.querySelector("[data-testid=run-status]").textContent.trim(),
    nodes: Object.fromEntries([...document.querySelectorAll("[data-node-row]")].map(r => [r.dataset.nodeRow, r.dataset.state])),
    badges: [...document.querySelectorAll("[data-node-status]")].map(b => b.textContent.trim()),
    cells: Object.fromEntries([...document.querySelectorAll("[data-node-row]")].map(r => [r.dataset.nodeRow,
      ["attempt", "duration", "tokens", "cost"].map(f => r.querySelector(`[data-field=${f}]`).textContent.trim())])),
    error: box("run-error-box").hidden ? null : document.querySelector("[data-testid=run-error-message]").textContent,
    error_detail: box("run-error-box").hidden ? null : box("run-error-detail").textContent,
    outputs: box("run-outputs-box").hidden ? null : box("run-outputs").textContent,
    cost: document.querySelector("[data-testid=run-cost]").textContent,
    tokens: document.querySelector("[data-testid=run-tokens]").textContent,
    events: [...document.querySelectorAll("#event-log li")].map(li => li.textContent),
  };
}"""


def parallel(fast_fails: str, slow: str) -> dict:
    """@inputs.task -> a and b side by side -> @outputs."""
    return {
        "schema_version": 1, "inputs": {"task": {"type": "string"}},
        "outputs": {"a": {"type": "string"}, "b": {"type": "string"}},
        "nodes": [agent("a", ["task"], ["answer"], instructions=fast_fails, y=0),
                  agent("b", ["task"], ["answer"], instructions=slow, y=200)],
        "edges": [edge("@inputs", "task", "a", "task"), edge("@inputs", "task", "b", "task"),
                  edge("a", "answer", "@outputs", "a"), edge("b", "answer", "@outputs", "b")],
    }


def watch_until(page, server, user, spec: dict, status: str):
    """Start a run of ``spec`` (input task "t"), open its page and wait until it shows ``status``."""
    graph = services.graph_create(owner=user, name=status, spec=spec).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    page.goto(f"{server.url}/runs/{run.pk}/")
    page.wait_for_selector(f'[data-testid=run-status]:text("{status}")', timeout=20_000)
    return run


def live_then_reload(page, name: str) -> tuple[dict, dict]:
    # (the status is set by run_finished, the run's last event: the stream has said everything)
    live = page.evaluate(PAGE_STATE)
    # the socket stays open, but the pill no longer says "live": the run has ended
    page.wait_for_selector("#ws-indicator[data-state=done]:text('finished')", timeout=5_000)
    page.screenshot(path=str(SHOTS / f"live-{name}-live.png"), full_page=True)
    page.reload()
    page.wait_for_selector("#ws-indicator[data-state=done]:text('finished')", timeout=20_000)
    loaded = page.evaluate(PAGE_STATE)
    page.screenshot(path=str(SHOTS / f"live-{name}-reloaded.png"), full_page=True)
    return live, loaded


def test_failure_with_a_sibling_in_flight(user, celery_worker, daphne_server, fake_llm, browser_page):
    fake_llm.script(match="FAILS", status=400, latency=1.0)
    fake_llm.script(match="SLOW", latency=30)
    page = browser_page
    run = watch_until(page, daphne_server, user, parallel("FAILS", "SLOW"), "failed")
    live, loaded = live_then_reload(page, "failure")
    assert live == loaded
    assert live["nodes"] == {"a": "failed", "b": "cancelled"}, "the sibling in flight is cancelled, not running"
    assert live["outputs"] is None, "a failed run shows no outputs (not {})"
    assert "node a failed" in live["error"] and "HTTP 400" in live["error"]
    assert '"node": "a"' in live["error_detail"]
    assert any("run_finished" in e and "node a failed" in e for e in live["events"]), "the error is in the log"
    assert wait_for_run(run.pk, 5).status == "failed"
    assert page.csp_errors == []


def test_cancel_with_calls_in_flight(user, celery_worker, daphne_server, fake_llm, browser_page):
    fake_llm.script(latency=30)
    graph = services.graph_create(owner=user, name="cancel", spec=parallel("ONE", "TWO")).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-node-row="a"][data-state="running"]', timeout=15_000)
    page.wait_for_selector('[data-node-row="b"][data-state="running"]', timeout=15_000)
    # A page loaded now (mid-run) shows the nodes in flight as running, not pending.
    page.reload()
    assert page.get_attribute('[data-node-row="a"]', "data-state") == "running"
    assert page.get_attribute('[data-node-row="b"]', "data-state") == "running"
    page.wait_for_selector("#ws-indicator[data-state=live]", timeout=10_000)
    page.evaluate("window.kaizenMarker = 1")  # gone if Cancel reloaded the page
    page.click("[data-testid=cancel]")
    page.wait_for_selector('[data-testid=run-status]:text("cancelled")', timeout=15_000)
    assert page.evaluate("window.kaizenMarker") == 1, "Cancel did not reload the page"
    live, loaded = live_then_reload(page, "cancel")
    assert live == loaded
    assert live["nodes"] == {"a": "cancelled", "b": "cancelled"}
    assert live["outputs"] is None
    seqs = [int(s) for s in page.eval_on_selector_all("#event-log li", "els => els.map(e => e.dataset.seq)")]
    assert seqs == list(range(1, len(seqs) + 1)), "every event once, in order, after a reload"
    assert page.is_enabled("[data-testid=resume]") and page.is_disabled("[data-testid=cancel]")
    assert page.csp_errors == []


def test_reload_mid_run_lists_each_event_once(user, celery_worker, daphne_server, fake_llm, browser_page):
    """The page lists events up to the seq it rendered at; the stream sends the rest: no duplicate."""
    from tests.helpers import chain

    fake_llm.script(match="step 2", latency=2)
    fake_llm.script(latency=0.3)
    graph = services.graph_create(owner=user, name="dups", spec=chain(6)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-node-row="s2"][data-state="running"]', timeout=15_000)
    page.reload()
    page.wait_for_selector('[data-testid=run-status]:text("succeeded")', timeout=30_000)
    seqs = [int(s) for s in page.eval_on_selector_all("#event-log li", "els => els.map(e => e.dataset.seq)")]
    assert seqs == list(range(1, wait_for_run(run.pk).last_seq + 1))
    assert page.text_content("#run-outputs") and page.is_hidden("[data-testid=run-error]")


def test_budget_interruption(user, celery_worker, daphne_server, fake_llm, browser_page):
    """A run that meets its budget is interrupted: the node that met it goes back to pending (it
    runs again on resume), and the message shows the budget's digits."""
    from decimal import Decimal

    from tests.helpers import chain

    fake_llm.script(latency=0.3, prompt_tokens=1000, completion_tokens=200)  # ~$0.00027 a call (gpt-4o-mini)
    graph = services.graph_create(owner=user, name="budget", spec=chain(3)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"}, budget_usd=Decimal("0.0004"))
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-testid=run-status]:text("interrupted")', timeout=30_000)
    live, loaded = live_then_reload(page, "budget")
    assert live == loaded
    assert "budget of $0.0004 reached" in live["error"] and "$0.0000" not in live["error"], live["error"]
    assert live["outputs"] is None
    assert "pending" in live["nodes"].values() and "running" not in live["nodes"].values(), live["nodes"]
    assert page.is_enabled("[data-testid=resume]")
    assert page.text_content("[data-testid=run-budget]") == "budget $0.0004"


def test_mid_run_load_shows_nested_nodes_in_flight(user, celery_worker, daphne_server, fake_llm, browser_page):
    """A for-each item's node in flight has no saved state yet: a page loaded then still lists it, running."""
    fake_llm.script(match="ITEM", latency=30)
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
    page.wait_for_selector('[data-node-row="each/1/worker"][data-state="running"]', timeout=15_000)
    page.reload()
    states = page.eval_on_selector_all("[data-node-row]", "els => els.map(e => [e.dataset.nodeRow, e.dataset.state])")
    assert states == [["each", "running"], ["each/0/worker", "running"], ["each/1/worker", "running"]], states
    page.click("[data-testid=cancel]")
    page.wait_for_selector('[data-testid=run-status]:text("cancelled")', timeout=15_000)
    live, loaded = live_then_reload(page, "nested-cancel")
    assert live == loaded, (live, loaded)


@pytest.mark.slow
def test_worker_killed_mid_run_then_resumed_elsewhere(user, start_worker, daphne_server, fake_llm, browser_page):
    """A worker dies with a node in flight; another takes the run over and finishes it. The page that
    watched it all ends as a fresh load shows it (nothing left "running" from the dead claim)."""
    from tests.helpers import chain

    fake_llm.script(match="step 2", latency=3)
    fake_llm.script(latency=0.2)
    first = start_worker("w1")
    graph = services.graph_create(owner=user, name="takeover", spec=chain(3)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-node-row="s2"][data-state="running"]', timeout=20_000)
    first.kill()
    start_worker("w2")
    page.wait_for_selector('[data-testid=run-status]:text("succeeded")', timeout=60_000)
    live, loaded = live_then_reload(page, "takeover")
    assert live == loaded, (live, loaded)
    assert live["nodes"] == {"s1": "succeeded", "s2": "succeeded", "s3": "succeeded"}
    assert any("run_resumed" in e for e in live["events"])


def test_stream_down_until_the_run_ends_then_back(user, celery_worker, daphne_server, fake_llm, browser_page):
    """The websocket drops after the first node and the reconnect hangs (open, silent, as behind a
    dead proxy) until the run has ended; when the stream comes back, the replay from the database
    brings the page to exactly what a fresh load shows and what the database says."""
    from graphs.selectors import run_node_statuses_from_events
    from tests.helpers import chain

    fake_llm.script(latency=0.4)
    graph = services.graph_create(owner=user, name="outage", spec=chain(4)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    page = browser_page
    outage, held = {"on": False}, []

    def route(ws):  # (Playwright routes every socket the page opens to the stream)
        if outage["on"]:
            held.append(ws)  # accepted for the page, never connected to the server: it hears nothing
        else:
            ws.connect_to_server()  # passed through both ways

    page.route_web_socket("**/ws/runs/**", route)
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-node-row="s1"][data-state="succeeded"]', timeout=15_000)
    outage["on"] = True
    page.evaluate("window.kaizenRunLive.drop()")
    for _ in range(100):  # (route handlers run while Playwright waits)
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the page reconnected into the outage"
    done = wait_for_run(run.pk, 30)
    page.wait_for_timeout(300)  # (anything still in flight to the page would arrive now: nothing may)
    missed = done.last_seq - page.evaluate("window.kaizenRunLive.lastSeq()")
    assert missed >= 4, "the page missed the rest of the run (s2..s4 and the run's end)"
    assert page.text_content("[data-testid=run-status]").strip() != "succeeded"
    outage["on"] = False
    for ws in held:
        ws.close(code=1012, reason="back")  # the page reconnects with ?after=<its last seq>
    page.wait_for_selector('[data-testid=run-status]:text("succeeded")', timeout=30_000)
    live, loaded = live_then_reload(page, "outage")
    assert live == loaded
    assert live["nodes"] == run_node_statuses_from_events(done) == {f"s{i}": "succeeded" for i in range(1, 5)}
    seqs = [int(s) for s in page.eval_on_selector_all("#event-log li", "els => els.map(e => e.dataset.seq)")]
    assert seqs == list(range(1, done.last_seq + 1)), "every event once, in order"
    assert page.csp_errors == []


def test_nodes_a_failed_run_never_reached_read_not_run(user, celery_worker, daphne_server, fake_llm, browser_page):
    """A chain whose first step fails: the steps after it were never reached. Once the run has
    ended they read "not run" (not "pending", as if still to come), live and on a fresh load; the
    canvas says the same."""
    from tests.helpers import chain

    fake_llm.script(match="step 1", status=400, latency=1.0)
    page = browser_page
    watch_until(page, daphne_server, user, chain(3), "failed")
    live, loaded = live_then_reload(page, "not-run")
    assert live == loaded
    assert live["nodes"] == {"s1": "failed", "s2": "not-run", "s3": "not-run"}, live["nodes"]
    assert live["badges"] == ["failed", "not run", "not run"], live["badges"]
    assert page.locator("#run-canvas .react-flow__node[data-id=s2] .status").text_content() == "not run"
    assert page.csp_errors == []
