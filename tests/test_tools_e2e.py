"""Tools through the whole stack: MCP server connections in the API, runs on real Celery workers
whose agents call an HTTP API and an MCP server (tests/toolservers.py), tool events in the run's
events and the audit log without secrets, and exactly-once tool calls when a worker is killed."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from graphs.models import NodeState, RunEvent
from tests.fakellm import ToolCalls
from tests.helpers import edge, wait_for_run, wait_until
from tests.test_worker_e2e import start_run


def agent_graph(tools, task_port="task"):
    return {"inputs": {task_port: {"type": "string"}}, "outputs": {"answer": {"type": "any"}},
            "nodes": [{"id": "helper", "kind": "agent", "config": {
                "signature": {"inputs": [{"name": task_port}], "outputs": [{"name": "answer"}]},
                "instructions": "Task: {{" + task_port + "}}", "tools": tools}}],
            "edges": [edge("@inputs", task_port, "helper", task_port), edge("helper", "answer", "@outputs", "answer")]}


def order_tool(api):
    return {"type": "http", "name": "place_order", "method": "POST", "url": f"{api.url}/orders",
            "body": '{"item": "{{item}}"}', "parameters": [{"name": "item"}]}


@pytest.mark.django_db
def test_mcp_server_connections_and_their_tools(user, other_user, mcp_test_server, settings):
    settings.KAIZEN_TOOLS_ALLOW_PRIVATE = True
    client = APIClient()
    client.force_authenticate(user)
    bad = client.post("/api/mcp-servers/", {"name": "docs", "url": mcp_test_server.url, "credential": "nope"}, format="json")
    assert bad.status_code == 400 and bad.data["errors"][0]["path"] == "credential"
    created = client.post("/api/mcp-servers/", {"name": "docs", "url": mcp_test_server.url}, format="json")
    assert created.status_code == 201, created.data
    assert [s["name"] for s in client.get("/api/mcp-servers/").data] == ["docs"]
    tools = client.get("/api/mcp-servers/docs/tools/")
    assert tools.status_code == 200, tools.data
    search = next(t for t in tools.data["tools"] if t["name"] == "search")
    assert search["input_schema"]["properties"]["query"]["type"] == "string" and search["read_only"]
    other = APIClient()
    other.force_authenticate(other_user)
    assert other.get("/api/mcp-servers/docs/tools/").status_code == 404
    assert other.get("/api/mcp-servers/").data == []
    settings.KAIZEN_TOOLS_ALLOW_PRIVATE = False
    refused = client.get("/api/mcp-servers/docs/tools/")
    assert refused.status_code == 502 and "private, loopback or reserved" in refused.data["detail"]
    assert other.delete("/api/mcp-servers/docs/").status_code == 404
    assert client.delete("/api/mcp-servers/docs/").status_code == 204
    from audit.models import AuditEntry

    [deleted] = AuditEntry.objects.filter(event="mcp_server.deleted")
    assert deleted.actor_id == user.pk and deleted.summary.startswith("docs (")


def test_a_run_on_a_worker_uses_http_and_mcp_tools_and_logs_them_without_secrets(
        user, celery_worker, fake_llm, tool_api, mcp_test_server):
    from graphs.credentials import credential_set
    from graphs.mcp_servers import mcp_server_set

    secret = "sk-e2e-tool-secret-987654321"
    credential_set(owner=user, name="weather-key", api_key=secret, allowed_hosts=[tool_api.url])
    mcp_server_set(owner=user, name="docs", url=mcp_test_server.url)
    weather = {"type": "http", "name": "get_weather", "url": f"{tool_api.url}/weather?city={{{{city}}}}",
               "parameters": [{"name": "city"}], "headers": [{"name": "X-Api-Key", "credential": "weather-key"}]}
    fake_llm.script("plan a trip", replies=[
        ToolCalls(("get_weather", {"city": "Kyoto"}), ("search", {"query": "kyoto temples"})), {"answer": "Go, it is sunny"}])
    _client, run_id = start_run(user, agent_graph([weather, {"type": "mcp", "server": "docs", "tools": ["search"]}]),
                                {"task": "plan a trip"})
    run = wait_for_run(run_id, 60)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"answer": "Go, it is sunny"}
    assert tool_api.calls("/weather")[0]["headers"]["X-Api-Key"] == secret
    assert any(name == "search" for name, _args in mcp_test_server.calls)
    events = list(RunEvent.objects.filter(run_id=run_id).order_by("seq"))
    posts = {e.data["tool"]: e.data for e in events if e.event == "post_tool_call"}
    assert posts["get_weather"]["status"] == "ok" and posts["search"]["status"] == "ok"
    pre = next(e.data for e in events if e.event == "pre_tool_call" and e.data["tool"] == "get_weather")
    assert pre["url"].endswith("/weather?city=Kyoto") and pre["arguments"] == {"city": "Kyoto"}
    audit = {r.event: r.summary for r in AuditEntry.objects.filter(run_id=run_id, event__in=["pre_tool_call", "post_tool_call"])}
    assert set(audit) == {"pre_tool_call", "post_tool_call"} and "ms" in audit["post_tool_call"]
    everything = json.dumps([e.data for e in events]) + json.dumps(list(AuditEntry.objects.filter(run_id=run_id).values_list("data", flat=True)))
    assert secret not in everything


def test_a_dry_run_on_a_worker_simulates_its_tools_and_prices_them(user, celery_worker, fake_llm, tool_api, mcp_test_server):
    """Nothing is fetched (neither the API nor the MCP server hears a thing, the model server is
    not asked); the tool events say simulated; the tool's price is in the estimate."""
    from graphs.credentials import credential_set
    from graphs.mcp_servers import mcp_server_set

    credential_set(owner=user, name="weather-key", api_key="sk-dry-0123456789", allowed_hosts=[tool_api.url])
    mcp_server_set(owner=user, name="docs", url=mcp_test_server.url)
    mcp_test_server.methods.clear()
    weather = {"type": "http", "name": "get_weather", "url": f"{tool_api.url}/weather?city={{{{city}}}}", "cost_usd": 0.02,
               "parameters": [{"name": "city"}], "headers": [{"name": "X-Api-Key", "credential": "weather-key"}],
               "output_schema": {"type": "object", "properties": {"forecast": {"type": "string"}}, "required": ["forecast"]}}
    _client, run_id = start_run(user, agent_graph([weather, {"type": "mcp", "server": "docs", "tools": ["search"]}]),
                                {"task": "dry trip"}, dry_run=True)
    run = wait_for_run(run_id, 60)
    assert run.status == "succeeded", run.error
    assert tool_api.requests == [] and mcp_test_server.methods == [] and fake_llm.calls("dry trip") == []
    posts = {e.data["tool"]: e.data for e in RunEvent.objects.filter(run_id=run_id, event="post_tool_call")}
    assert posts["get_weather"]["simulated"] and posts["search"]["simulated"]
    assert set(json.loads(posts["get_weather"]["result"])) == {"forecast"} and posts["get_weather"]["cost_usd"] == 0.02
    assert float(run.cost_usd) >= 0.02
    summaries = list(AuditEntry.objects.filter(run_id=run_id, event="post_tool_call").values_list("summary", flat=True))
    assert summaries and all("simulated" in s for s in summaries)


@pytest.mark.slow
def test_a_worker_killed_after_a_tool_result_was_recorded_does_not_repeat_the_call(user, start_worker, fake_llm, tool_api):
    fake_llm.script("buy tea", replies=[ToolCalls(("place_order", {"item": "tea"}))])
    fake_llm.script('"order": 1', replies=[{"answer": "ordered"}], latency=2.5)  # the model reads the result slowly
    fake_llm.rules.insert(0, fake_llm.rules.pop())  # (the answer's rule first: its request also says "buy tea")
    worker_a = start_worker("a")
    _client, run_id = start_run(user, agent_graph([order_tool(tool_api)]), {"task": "buy tea"})
    wait_until(lambda: fake_llm.calls('"order": 1'), 30, message="the model is reading the tool's result")
    worker_a.kill()
    start_worker("b")
    run = wait_for_run(run_id, 90)
    assert run.status == "succeeded", run.error
    assert run.claims == 2
    assert len(tool_api.calls("/orders")) == 1, "the order was placed again"
    names = list(RunEvent.objects.filter(run_id=run_id).values_list("event", flat=True))
    assert "run_resumed" in names
    replayed = RunEvent.objects.filter(run_id=run_id, event="post_tool_call", data__replayed=True)
    assert replayed.count() == 1


@pytest.mark.slow
def test_a_non_idempotent_call_in_flight_interrupts_the_run_and_resume_asks_retry_or_skip(user, start_worker, fake_llm, tool_api):
    tool_api.order_delay = 4
    fake_llm.script("buy coffee", replies=[ToolCalls(("place_order", {"item": "coffee"})), {"answer": "ordered"}])
    worker_a = start_worker("a")
    client, run_id = start_run(user, agent_graph([order_tool(tool_api)]), {"task": "buy coffee"})
    wait_until(lambda: tool_api.calls("/orders"), 30, message="the order is in flight")
    worker_a.kill()
    tool_api.order_delay = 0
    start_worker("b")
    run = wait_for_run(run_id, 90)
    assert run.status == "interrupted", run.error
    assert run.error["type"] == "tool_interrupted" and run.error["tool"] == "place_order" and run.error["node"] == "helper"
    assert len(tool_api.calls("/orders")) == 1
    entry = NodeState.objects.get(run_id=run_id, node_id="helper").data["tool_calls"][0]
    assert entry["status"] == "started"
    asked = client.post(f"/api/runs/{run_id}/resume/", {}, format="json")
    assert asked.status_code == 400 and asked.data["errors"][0]["path"] == "tool_call" and "retry" in asked.data["detail"]
    resumed = client.post(f"/api/runs/{run_id}/resume/", {"tool_call": "skip"}, format="json")
    assert resumed.status_code == 202, resumed.data
    run = wait_for_run(run_id, 60)
    assert run.status == "succeeded", run.error
    assert len(tool_api.calls("/orders")) == 1, "a skipped call is not made"
    skipped = RunEvent.objects.filter(run_id=run_id, event="post_tool_call", data__status="skipped")
    assert skipped.count() == 1


# -- the templates that use tools --------------------------------------------------------------
def test_the_parallel_template_fetches_with_its_http_tools(api_client, celery_worker, fake_llm, tool_api):
    """The user points the fetchers' tool at their own endpoint (here the local API); each fetcher
    calls it, the five calls overlap, and the transforms read what was fetched."""
    from graphs.pattern_templates import DEMO_URL, SOURCES
    from tests.test_templates_e2e import run_template

    def own_endpoint(spec):
        for node in spec["nodes"]:
            for tool in node["config"].get("tools", []):
                tool["url"] = tool["url"].replace(DEMO_URL.split("/api/")[0], tool_api.url)

    for src in SOURCES:
        fake_llm.script(f"Fetch from {src}", replies=[ToolCalls(("fetch_page", {"title": f"{src}_report"})),
                                                      {"data": f"{src} data fetched"}])
    run = wait_for_run(run_template(api_client, "parallel-pipeline", {"request": "last week"}, spec_change=own_endpoint), 60)
    assert run.status == "succeeded", run.error
    fetched = sorted(r["path"].rsplit("/", 1)[-1] for r in tool_api.requests if "/page/summary/" in r["path"])
    assert fetched == sorted(f"{src}_report" for src in SOURCES)
    for src in SOURCES:
        final = fake_llm.calls(f"Fetch from {src}")[-1]
        assert f"About {src}_report." in json.dumps(final["body"]["messages"])
    assert RunEvent.objects.filter(run_id=run.pk, event="post_tool_call", data__status="ok").count() == len(SOURCES)


def test_the_research_template_uses_its_mcp_server(api_client, user, celery_worker, fake_llm, mcp_test_server):
    from graphs.mcp_servers import mcp_server_set
    from graphs.pattern_templates import MCP_SERVER
    from tests.test_templates_e2e import run_template

    mcp_server_set(owner=user, name=MCP_SERVER, url=mcp_test_server.url)
    mcp_test_server.calls.clear()
    fake_llm.script("Research this topic", replies=[ToolCalls(("search", {"query": "remote work", "limit": 2})),
                                                    {"notes": "remote work helps focus", "sources": ["docs"]}])
    run = wait_for_run(run_template(api_client, "research-with-tools", {"topic": "remote work"}), 60)
    assert run.status == "succeeded", run.error
    assert ("search", {"query": "remote work", "limit": 2}) in mcp_test_server.calls
    assert run.outputs["sources"] == ["docs"] and run.outputs["brief"]
    researcher = fake_llm.calls("Research this topic")
    assert {t["function"]["name"] for t in researcher[0]["body"]["tools"]} == {"search", "fetch_page"}
