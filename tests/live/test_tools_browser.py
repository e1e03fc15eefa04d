"""Tool calls on the run page in Debian's chromium: pre_tool_call / post_tool_call lines in the live
log (tool, arguments, URL or MCP server, status, time, size; never a secret), and a run stopped
during a non-idempotent call offering Resume with retry or skip."""

from __future__ import annotations

import pytest

from graphs import services
from graphs.mcp_servers import mcp_server_set
from tests.fakellm import ToolCalls
from tests.helpers import edge, wait_for_run
from tests.live.conftest import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def agent_graph(tools):
    return {"schema_version": 1, "inputs": {"task": {"type": "string"}}, "outputs": {"answer": {"type": "any"}},
            "nodes": [{"id": "helper", "kind": "agent", "position": {"x": 0, "y": 0}, "config": {
                "signature": {"inputs": [{"name": "task"}], "outputs": [{"name": "answer"}]},
                "instructions": "Task: {{task}}", "tools": tools}}],
            "edges": [edge("@inputs", "task", "helper", "task"), edge("helper", "answer", "@outputs", "answer")]}


def test_tool_calls_show_live_in_the_event_log(user, celery_worker, daphne_server, fake_llm, browser_page, tool_api,
                                                mcp_test_server):
    from graphs.credentials import credential_set

    secret = "sk-browser-tool-secret-424242"
    credential_set(owner=user, name="weather-key", api_key=secret, allowed_hosts=[tool_api.url])
    mcp_server_set(owner=user, name="docs", url=mcp_test_server.url)
    weather = {"type": "http", "name": "get_weather", "url": f"{tool_api.url}/weather?city={{{{city}}}}",
               "parameters": [{"name": "city"}], "headers": [{"name": "X-Api-Key", "credential": "weather-key"}]}
    fake_llm.script("trip", replies=[ToolCalls(("get_weather", {"city": "Kyoto"}), ("search", {"query": "temples"})),
                                     {"answer": "Go"}], latency=1.0)
    graph = services.graph_create(owner=user, name="tools", spec=agent_graph(
        [weather, {"type": "mcp", "server": "docs", "tools": ["search"]}])).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "trip"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('#event-log li[data-event="post_tool_call"]', timeout=30_000)
    page.wait_for_selector('[data-testid=run-status]:text("succeeded")', timeout=30_000)
    pre = page.eval_on_selector_all('#event-log li[data-event="pre_tool_call"]', "els => els.map(e => e.textContent)")
    post = page.eval_on_selector_all('#event-log li[data-event="post_tool_call"]', "els => els.map(e => e.textContent)")
    assert any('get_weather({"city":"Kyoto"}) · GET ' in t and "/weather?city=Kyoto" in t for t in pre), pre
    assert any("search(" in t and "MCP docs" in t for t in pre), pre
    assert any("get_weather · ok 200 · " in t and " ms · " in t for t in post) and any("search · ok" in t for t in post), post
    assert secret not in page.content()
    page.click('[data-node-row="helper"]')  # the node's panel: its tool calls with their answers
    page.wait_for_selector("[data-testid=node-tool-call]")
    panel = page.text_content("#node-detail")
    assert 'get_weather({"city": "Kyoto"})' in panel and "sunny in Kyoto" in panel and "→ search(" in panel
    assert secret not in page.content()
    page.screenshot(path=str(SHOTS / "run-tool-calls.png"), full_page=True)
    assert page.csp_errors == []


def test_a_run_stopped_during_a_non_idempotent_call_resumes_with_retry_or_skip(
        user, celery_worker, daphne_server, fake_llm, browser_page, tool_api):
    """Cancelled while its POST is in flight, the order's outcome is unknown: Resume stops the run as
    interrupted naming the call, and the page offers to retry or skip it."""
    tool_api.order_delay = 5
    order = {"type": "http", "name": "place_order", "method": "POST", "url": f"{tool_api.url}/orders",
             "body": '{"item": "{{item}}"}', "parameters": [{"name": "item"}]}
    fake_llm.script("buy tea", replies=[ToolCalls(("place_order", {"item": "tea"})), {"answer": "ordered"}])
    graph = services.graph_create(owner=user, name="order", spec=agent_graph([order])).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "buy tea"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('#event-log li[data-event="pre_tool_call"]', timeout=30_000)
    page.click("[data-testid=cancel]")
    page.wait_for_selector('[data-testid=run-status]:text("cancelled")', timeout=15_000)
    tool_api.order_delay = 0
    page.click("[data-testid=resume]")
    page.wait_for_selector('[data-testid=run-status]:text("interrupted")', timeout=30_000)
    page.wait_for_selector("#tool-decision:not([hidden])", timeout=5_000)
    assert "place_order" in page.text_content("[data-testid=run-error-message]")
    assert page.is_hidden("#resume-form") and page.is_enabled("[data-testid=resume-skip]")
    page.screenshot(path=str(SHOTS / "run-tool-interrupted.png"), full_page=True)
    page.reload()  # the same choice after a reload
    page.wait_for_selector("#tool-decision:not([hidden])", timeout=5_000)
    page.click("[data-testid=resume-skip]")
    page.wait_for_selector('[data-testid=run-status]:text("succeeded")', timeout=30_000)
    assert wait_for_run(run.pk, 5).status == "succeeded"
    assert len(tool_api.calls("/orders")) == 1, "the skipped order was not placed again"
    assert page.is_hidden("#tool-decision")
    assert page.csp_errors == []
