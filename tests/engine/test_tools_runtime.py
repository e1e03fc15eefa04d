"""Tools in the run's bookkeeping: dry runs simulate tools (schema-shaped results marked simulated,
nothing fetched, no server asked); an MCP server's tool list is journaled like a call (a resumed
run does not list again); a tool's price per call counts into the run's cost and its budgets."""

from __future__ import annotations

import json

import pytest

from graphs.engine.llm import ProviderRegistry
from graphs.engine.llm.simulated import SimulatedProvider
from graphs.engine.ports import MemoryCheckpointStore, MemoryEventSink
from graphs.engine.runtime import Engine
from tests.fakellm import ToolCalls
from tests.helpers import edge

from .test_tools import WEATHER, agent_graph, http_tool, mcp_resolver

FORECAST = {"type": "object", "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"},
                                              "sky": {"type": "string", "enum": ["sunny", "rain"]}},
            "required": ["city", "celsius", "sky"]}


def listings(server):
    """How many times the server was asked for its tools by a listing session (the SDK's call
    session lists too, after its call: those are not counted)."""
    sessions = " ".join(server.methods).split("server/discover")
    return sum(1 for s in sessions if s.split()[:1] == ["tools/list"])


def tool_events(events, name):
    return [e["data"] for e in events.events if e["event"] == name and e["data"].get("tool") != "(list tools)"]


# -- dry runs ----------------------------------------------------------------------------------
async def dry_run(doc, inputs, **kwargs):
    events = MemoryEventSink()
    engine = Engine(doc, run_id="dry", checkpoints=MemoryCheckpointStore(), events=events, force_provider="simulated",
                    providers=ProviderRegistry({"simulated": SimulatedProvider()}, "simulated"), **kwargs)
    return await engine.run(inputs), events


async def test_a_dry_run_simulates_an_agents_tools_from_their_output_schemas(tool_api, mcp_test_server):
    mcp_test_server.methods.clear()
    weather = http_tool(WEATHER, tool_api.url, output_schema=FORECAST, cost_usd=0.01)
    doc = agent_graph([weather, {"type": "mcp", "server": "docs", "tools": ["search"]}])
    result, events = await dry_run(doc, {"task": "weather in Paris"}, tools_allow_private=True,
                                   mcp_resolver=mcp_resolver(mcp_test_server))
    assert result.status == "succeeded", result.error
    assert tool_api.requests == [] and mcp_test_server.methods == []  # nothing fetched, no server asked
    pre, post = tool_events(events, "pre_tool_call"), tool_events(events, "post_tool_call")
    assert sorted(p["tool"] for p in pre) == ["get_weather", "search"] and all(p["simulated"] for p in pre + post)
    answer = json.loads(next(p for p in post if p["tool"] == "get_weather")["result"])
    assert set(answer) == {"city", "celsius", "sky"} and isinstance(answer["celsius"], int) and answer["sky"] in ("sunny", "rain")
    assert next(p for p in pre if p["tool"] == "get_weather")["arguments"]["city"]  # arguments of the tool's schema
    search = json.loads(next(p for p in post if p["tool"] == "search")["result"])
    assert search["simulated"] is True and "no request was made" in search["note"]  # (no declared output schema)
    assert result.cost_usd >= 0.01  # the tool's price is part of the estimate
    again, _ = await dry_run(doc, {"task": "weather in Paris"}, tools_allow_private=True, mcp_resolver=mcp_resolver(mcp_test_server))
    assert again.outputs == result.outputs  # deterministic


async def test_a_dry_run_of_a_tool_node_gives_a_simulated_result_of_its_schema(tool_api):
    weather = http_tool(WEATHER, tool_api.url, output_schema=FORECAST)
    doc = {"inputs": {"city": {"type": "string"}}, "outputs": {"result": {"type": "any"}, "status": {"type": "string"}},
           "nodes": [{"id": "fetch", "kind": "tool", "config": {"tool": weather}}],
           "edges": [edge("@inputs", "city", "fetch", "city"), edge("fetch", "result", "@outputs", "result"),
                     edge("fetch", "status", "@outputs", "status")]}
    result, events = await dry_run(doc, {"city": "Oslo"}, tools_allow_private=True)
    assert result.status == "succeeded", result.error
    assert result.outputs["status"] == "ok" and set(result.outputs["result"]) == {"city", "celsius", "sky"}
    assert tool_api.requests == [] and tool_events(events, "post_tool_call")[0]["simulated"] is True


# -- MCP listings are journaled ------------------------------------------------------------------
async def test_a_resumed_run_reads_the_mcp_tool_list_back_instead_of_listing_again(harness, mcp_test_server):
    mcp_test_server.methods.clear()
    mcp_test_server.calls.clear()
    harness.fake.script("research", replies=[400, ToolCalls(("search", {"query": "kaizen"})), {"answer": "found"}])
    doc = agent_graph([{"type": "mcp", "server": "docs", "tools": ["search"]}])
    first = await harness.run(doc, {"task": "research"}, tools_allow_private=True, mcp_resolver=mcp_resolver(mcp_test_server))
    assert first.status == "failed" and listings(mcp_test_server) == 1
    journal = harness.checkpoints.saved["r1"]["helper"]["tool_calls"]
    assert journal[0]["key"] == "mcp-list/docs" and [t["name"] for t in journal[0]["listing"]] == ["search", "add", "slow_write"]
    second = await harness.run(doc, {"task": "research"}, tools_allow_private=True, mcp_resolver=mcp_resolver(mcp_test_server))
    assert second.status == "succeeded", second.error
    assert listings(mcp_test_server) == 1, f"the server was listed again on resume: {mcp_test_server.methods}"
    assert [name for name, _ in mcp_test_server.calls] == ["search"]
    offered = harness.fake.calls("research")[-2]["body"]["tools"]
    assert offered[0]["function"]["parameters"]["required"] == ["query"]  # the journaled schema, as first listed
    replayed = [e["data"] for e in harness.events.events if e["event"] == "post_tool_call" and e["data"].get("replayed")]
    assert [r["key"] for r in replayed] == ["mcp-list/docs"]


# -- tools are priced and budgeted ---------------------------------------------------------------
async def test_a_tools_price_counts_into_the_runs_cost_and_the_events(harness, tool_api):
    harness.fake.script("priced", replies=[ToolCalls(("get_weather", {"city": "A"}), ("get_weather", {"city": "B"})),
                                           {"answer": "ok"}])
    result = await harness.run(agent_graph([http_tool(WEATHER, tool_api.url, cost_usd=0.25)]), {"task": "priced"},
                               tools_allow_private=True)
    assert result.status == "succeeded", result.error
    llm_cost = sum(e["data"]["cost_usd"] for e in harness.events.events if e["event"] == "post_llm_call")
    assert result.cost_usd == pytest.approx(0.5 + llm_cost)
    assert [p["cost_usd"] for p in tool_events(harness.events, "post_tool_call")] == [0.25, 0.25]
    node = next(e["data"] for e in harness.events.events if e["event"] == "post_node")
    assert node["cost_usd"] == pytest.approx(result.cost_usd)


async def test_a_tool_spending_the_budget_stops_the_run_and_resume_counts_what_it_cost(harness, tool_api):
    """As for LLM calls: spent is checked before each call; over budget, the run is interrupted
    (type budget); a resumed run counts the tool's journaled price again and never repeats the call."""
    harness.fake.script("costly", replies=[ToolCalls(("get_weather", {"city": "A"})), ToolCalls(("get_weather", {"city": "B"})),
                                           {"answer": "ok"}])
    doc = agent_graph([http_tool(WEATHER, tool_api.url, cost_usd=0.25)])
    doc["settings"] = {"budget_usd": 0.2}
    first = await harness.run(doc, {"task": "costly"}, tools_allow_private=True)
    assert first.status == "interrupted" and first.error["type"] == "budget", first.error
    assert len(tool_api.calls("/weather")) == 1 and first.cost_usd >= 0.25
    resumed = await harness.run(doc, {"task": "costly"}, tools_allow_private=True)
    assert resumed.status == "interrupted" and resumed.cost_usd >= 0.25
    assert len(tool_api.calls("/weather")) == 1  # nothing more was spent or called


async def test_a_budget_guard_counts_its_subgraphs_tools(harness, tool_api):
    body = agent_graph([http_tool(WEATHER, tool_api.url, cost_usd=0.25)])
    doc = {"inputs": {"task": {"type": "string"}}, "outputs": {"answer": {"type": "any"}},
           "nodes": [{"id": "guard", "kind": "budget", "config": {"body": body, "budget_usd": 0.2, "on_exceed": "interrupt"}}],
           "edges": [edge("@inputs", "task", "guard", "task"), edge("guard", "answer", "@outputs", "answer")]}
    harness.fake.script("guarded", replies=[ToolCalls(("get_weather", {"city": "A"})), {"answer": "ok"}])
    result = await harness.run(doc, {"task": "guarded"}, tools_allow_private=True)
    assert result.status == "interrupted" and result.error["type"] == "budget", result.error
    assert result.error["scope"] == "guard/main" and len(tool_api.calls("/weather")) == 1
