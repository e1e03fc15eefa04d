"""The run page's canvas (issue 15 items 3 and 4): consensus voters, fallback levels and
plan-execute-verify phases light up as each voter votes, each level is tried, each phase runs;
for-each and budget nodes expand into their nested nodes, lit live from the nested nodes' events;
a reload shows the same lights."""

from __future__ import annotations

import pytest

from graphs import services
from tests.helpers import agent, edge
from tests.live.conftest import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every lit row of the canvas: {"<node>/<member>": "lit-..."}
LIT = """() => Object.fromEntries([...document.querySelectorAll('#run-canvas .kz-member')].map((r) =>
  [r.closest('.react-flow__node').dataset.id + '/' + r.dataset.member, [...r.classList].find((c) => c.startsWith('lit-')) || '']))"""

# Every node of the canvas with its run state and the nested count line
CANVAS = """() => Object.fromEntries([...document.querySelectorAll('#run-canvas .react-flow__node-kaizen')].map((n) =>
  [n.dataset.id, [([...n.querySelector('.kz-node').classList].find((c) => c.startsWith('run-')) || ''),
                  n.querySelector('[data-testid=nested-count]')?.textContent || '']]))"""

SIG = {"inputs": [{"name": "task"}], "outputs": [{"name": "answer"}]}


def members_graph() -> dict:
    """@inputs.task -> vote (consensus), chain (fallback), pev side by side."""
    return {
        "schema_version": 1, "inputs": {"task": {"type": "string"}},
        "outputs": {"decision": {"type": "string"}, "answer": {"type": "string", "required": False}, "result": {"type": "string"}},
        "nodes": [
            {"id": "vote", "kind": "consensus", "position": {"x": 0, "y": 0}, "config": {
                "consensus_threshold": 0.5, "max_rounds": 1,
                "voters": [{"name": "careful", "persona": "You are a CAREFUL voter."}, {"name": "bold", "persona": "You are a BOLD voter."}]}},
            {"id": "chain", "kind": "fallback", "position": {"x": 0, "y": 300}, "config": {
                "signature": SIG, "levels": [{"model": "broken-model", "quality": "high", "max_steps": 1},
                                             {"model": "backup-model", "quality": "medium", "max_steps": 1}]}},
            {"id": "pev", "kind": "pev", "position": {"x": 0, "y": 600}, "config": {"max_iterations": 2, "verification_strictness": "lenient"}},
        ],
        "edges": [edge("@inputs", "task", "vote", "task"), edge("@inputs", "task", "chain", "task"), edge("@inputs", "task", "pev", "task"),
                  edge("vote", "final_decision", "@outputs", "decision"), edge("chain", "answer", "@outputs", "answer"),
                  edge("pev", "result", "@outputs", "result")],
    }


def test_voters_levels_and_phases_light_up_as_they_run(user, celery_worker, daphne_server, fake_llm, browser_page):
    fake_llm.honour_schema = True
    fake_llm.script(match="CAREFUL voter", latency=0.3, honour=True, reply={"decision": "yes"})
    fake_llm.script(match="BOLD voter", latency=8.0, honour=True, reply={"decision": "yes"})
    fake_llm.script(model="broken-model", status=400)
    fake_llm.script(model="backup-model", latency=8.0, honour=True)
    fake_llm.script(match="You verify results strictly", latency=0.5, honour=True,
                    replies=[{"passed": False, "score": 0.1, "feedback": "more detail"}, {"passed": True, "score": 1.0}])
    fake_llm.script(latency=0.3, honour=True)
    graph = services.graph_create(owner=user, name="members", spec=members_graph()).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "ship it?"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('#run-canvas .react-flow__node[data-id="vote"] [data-member="bold"].lit-running', timeout=20_000)
    page.wait_for_selector('#run-canvas .react-flow__node[data-id="vote"] [data-member="careful"].lit-succeeded', timeout=10_000)
    page.wait_for_selector('#run-canvas .react-flow__node[data-id="chain"] [data-member="2"].lit-running', timeout=10_000)
    lit = page.evaluate(LIT)
    assert lit["chain/1"] == "lit-failed", lit  # level 1 refused: tried, failed, level 2 in flight
    page.locator("#run-canvas").screenshot(path=str(SHOTS / "run-canvas-members-live.png"))
    page.wait_for_selector('[data-testid=run-status]:text("succeeded")', timeout=90_000)
    live = page.evaluate(LIT)
    assert live == {"vote/careful": "lit-succeeded", "vote/bold": "lit-succeeded", "chain/1": "lit-failed",
                    "chain/2": "lit-succeeded", "pev/plan": "lit-succeeded", "pev/execute": "lit-succeeded",
                    "pev/verify": "lit-succeeded"}, live
    page.locator("#run-canvas").screenshot(path=str(SHOTS / "run-canvas-members-finished.png"))
    page.reload()
    page.wait_for_selector('#run-canvas .react-flow__node[data-id="vote"] .kz-member')
    assert page.evaluate(LIT) == live  # a fresh load lights the same rows
    assert page.csp_errors == []


def nested_graph() -> dict:
    """A for-each over items (body: worker) and a budget guard (body: inner), side by side."""
    each_body = {"inputs": {"item": {"type": "string"}}, "outputs": {"answer": {"type": "string"}},
                 "nodes": [agent("worker", ["item"], ["answer"], instructions="ITEM {{item}}")],
                 "edges": [edge("@inputs", "item", "worker", "item"), edge("worker", "answer", "@outputs", "answer")]}
    guard_body = {"inputs": {"task": {"type": "string"}}, "outputs": {"answer": {"type": "string"}},
                  "nodes": [agent("inner", ["task"], ["answer"], instructions="GUARDED {{task}}"),
                            agent("check", ["answer"], ["answer"], instructions="CHECK {{answer}}", x=300)],
                  "edges": [edge("@inputs", "task", "inner", "task"), edge("inner", "answer", "check", "answer"),
                            edge("check", "answer", "@outputs", "answer")]}
    return {
        "schema_version": 1, "inputs": {"items": {"type": "list"}, "task": {"type": "string"}},
        "outputs": {"results": {"type": "list"}, "answer": {"type": "string"}},
        # (long labels: a read-only node holding a subgraph has a status badge and an expand button besides)
        "nodes": [{"id": "each", "kind": "for_each", "label": "Pipeline steps (one at a time)", "position": {"x": 0, "y": 0},
                   "config": {"body": each_body}},
                  {"id": "guard", "kind": "budget", "position": {"x": 0, "y": 250}, "config": {"body": guard_body, "budget_usd": 5}}],
        "edges": [edge("@inputs", "items", "each", "items"), edge("each", "results", "@outputs", "results"),
                  edge("@inputs", "task", "guard", "task"), edge("guard", "answer", "@outputs", "answer")],
    }


def expand(page, node_id):
    button = page.locator(f'#run-canvas .react-flow__node[data-id="{node_id}"] [data-testid=expand]')
    button.dispatch_event("click")  # (a click wherever the node is: the view refits as frames open)
    page.wait_for_selector(f'#run-canvas .react-flow__node[data-id="{node_id}::"]')
    page.wait_for_timeout(400)  # the refit


def test_for_each_and_budget_expand_into_their_nested_nodes_live(user, celery_worker, daphne_server, fake_llm, browser_page):
    fake_llm.script(match="ITEM", latency=8.0)  # (long enough to see them in flight on a loaded machine)
    fake_llm.script(match="GUARDED", latency=8.0)
    fake_llm.script(latency=0.2)
    graph = services.graph_create(owner=user, name="nested canvas", spec=nested_graph()).graph
    run = services.run_start(graph=graph, user=user, inputs={"items": ["a", "b", "c"], "task": "t"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    canvas = page.locator("#run-canvas")
    for node_id in ("each", "guard"):
        expand(page, node_id)
    # the subgraphs' nodes are drawn under their node, lit from the nested nodes' events
    page.wait_for_selector('#run-canvas .react-flow__node[data-id="each::worker"] .kz-node.run-running', timeout=60_000)
    page.wait_for_selector('#run-canvas .react-flow__node[data-id="guard::inner"] .kz-node.run-running', timeout=10_000)
    state = page.evaluate(CANVAS)
    assert state["guard::check"] == ["", ""], state  # not started yet
    assert state["each::worker"][1].startswith("3 items · "), state  # one badge for every item's instance
    assert {"each::@inputs", "each::@outputs", "guard::@inputs", "guard::@outputs"} <= set(
        page.eval_on_selector_all("#run-canvas .react-flow__node-io", "els => els.map((e) => e.dataset.id)"))
    # nothing covers anything: the frames pushed the nodes below them down
    boxes = page.eval_on_selector_all("#run-canvas .react-flow__node", """els => els
      .filter((e) => !e.dataset.id.includes('::') || e.dataset.id.endsWith('::'))  // top-level nodes and the frames
      .map((e) => { const r = e.getBoundingClientRect(); return [e.dataset.id, r.left, r.top, r.right, r.bottom]; })""")
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2], (a, b)
    canvas.screenshot(path=str(SHOTS / "run-canvas-nested-live.png"))
    page.wait_for_selector('[data-testid=run-status]:text("succeeded")', timeout=90_000)
    page.wait_for_selector('#run-canvas .react-flow__node[data-id="guard::check"] .kz-node.run-succeeded', timeout=5_000)
    live = page.evaluate(CANVAS)
    assert live["each::worker"] == ["run-succeeded", "3 items · 3 succeeded"], live
    assert live["guard::inner"] == ["run-succeeded", ""], live
    canvas.screenshot(path=str(SHOTS / "run-canvas-nested-finished.png"))
    assert page.eval_on_selector_all("#run-canvas .kz-node-title", "els => els.filter((e) => e.scrollWidth > e.clientWidth + 1)"
                                     ".map((e) => e.textContent)") == [], "a title cut short"
    # a click on a nested node opens one of its instances
    canvas.locator('.react-flow__node[data-id="guard::inner"]').click()
    page.wait_for_selector("#node-detail .node-detail")
    assert "GUARDED" in page.text_content("#node-detail")
    page.reload()
    for node_id in ("each", "guard"):
        expand(page, node_id)
    page.wait_for_selector('#run-canvas .react-flow__node[data-id="guard::check"] .kz-node.run-succeeded', timeout=5_000)
    assert page.evaluate(CANVAS) == live  # a fresh load draws the same
    assert page.csp_errors == []
