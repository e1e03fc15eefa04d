"""Agents that call tools: HTTP requests (a local API) and an MCP server (the mcp SDK's server over
streamable HTTP), through the real openai SDK against the scripted server's tool calls; calls are
journaled (replayed on resume, never made twice), non-idempotent calls cut off by a stop interrupt
the run, private addresses are refused, secrets never reach events."""

from __future__ import annotations

import asyncio
import json

import pytest

from graphs.engine.tools import McpEndpoint, StoredCredential, ToolEnv, list_tools
from tests.fakellm import ToolCalls
from tests.helpers import edge

WEATHER = {"type": "http", "name": "get_weather", "description": "Weather for a city", "method": "GET",
           "url": "{base}/weather?city={{{{city}}}}", "parameters": [{"name": "city", "description": "City name"}]}
ORDER = {"type": "http", "name": "place_order", "method": "POST", "url": "{base}/orders",
         "body": '{"item": "{{item}}", "source": "kaizen"}', "parameters": [{"name": "item"}]}


def http_tool(template, base, **extra):
    return {**json.loads(json.dumps(template).replace("{base}", base).replace("{{{{", "{{").replace("}}}}", "}}")), **extra}


def agent_graph(tools, *, instructions="Task: {{task}}", rounds=5, outputs=("answer",)):
    return {"inputs": {"task": {"type": "string"}}, "outputs": {o: {"type": "any"} for o in outputs},
            "nodes": [{"id": "helper", "kind": "agent", "config": {
                "signature": {"inputs": [{"name": "task"}], "outputs": [{"name": o} for o in outputs]},
                "instructions": instructions, "tools": tools, "max_tool_rounds": rounds}}],
            "edges": [edge("@inputs", "task", "helper", "task")] + [edge("helper", o, "@outputs", o) for o in outputs]}


def tool_messages(request):
    return [m for m in request["body"]["messages"] if m.get("role") == "tool"]


async def test_an_agent_calls_an_http_tool_and_uses_its_result(harness, tool_api):
    harness.fake.script("weather task", replies=[ToolCalls(("get_weather", {"city": "Paris"})), {"answer": "Sunny, 21 C"}])
    result = await harness.run(agent_graph([http_tool(WEATHER, tool_api.url)]), {"task": "weather task"},
                               tools_allow_private=True)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"answer": "Sunny, 21 C"}
    assert [c["query"] for c in tool_api.calls("/weather")] == [{"city": "Paris"}]
    first, second = harness.fake.calls("weather task")
    assert [t["function"]["name"] for t in first["body"]["tools"]] == ["get_weather"]
    assert first["body"]["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert json.loads(tool_messages(second)[0]["content"])["forecast"] == "sunny in Paris"
    names = harness.events.names("helper")
    assert names.index("pre_tool_call") < names.index("post_tool_call") < names.index("post_node")
    post = next(e["data"] for e in harness.events.events if e["event"] == "post_tool_call")
    assert post["status"] == "ok" and post["http_status"] == 200 and post["bytes"] > 0 and post["duration_ms"] >= 0


async def test_parallel_tool_calls_of_one_round_all_run(harness, tool_api):
    harness.fake.script("two cities", replies=[
        ToolCalls(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})), {"answer": "both"}])
    result = await harness.run(agent_graph([http_tool(WEATHER, tool_api.url)]), {"task": "two cities"}, tools_allow_private=True)
    assert result.status == "succeeded", result.error
    assert sorted(c["query"]["city"] for c in tool_api.calls("/weather")) == ["Oslo", "Rome"]
    final = harness.fake.calls("two cities")[-1]
    assert sorted(json.loads(m["content"])["city"] for m in tool_messages(final)) == ["Oslo", "Rome"]


async def test_tool_rounds_are_bounded(harness, tool_api):
    harness.fake.script("loop forever", replies=[ToolCalls(("get_weather", {"city": "X"}))] * 3 + [{"answer": "done"}])
    result = await harness.run(agent_graph([http_tool(WEATHER, tool_api.url)], rounds=2), {"task": "loop forever"},
                               tools_allow_private=True)
    assert result.status == "succeeded", result.error
    assert len(tool_api.calls("/weather")) == 2
    calls = harness.fake.calls("loop forever")
    assert "tools" in calls[1]["body"] and "tools" not in calls[2]["body"]  # the third request must answer


async def test_a_private_address_is_refused_without_a_request(harness, tool_api):
    harness.fake.script("private", replies=[ToolCalls(("get_weather", {"city": "Paris"})), {"answer": "could not"}])
    result = await harness.run(agent_graph([http_tool(WEATHER, tool_api.url)]), {"task": "private"})
    assert result.status == "succeeded", result.error
    assert tool_api.calls("/weather") == []
    refusal = tool_messages(harness.fake.calls("private")[-1])[0]["content"]
    assert "private, loopback or reserved" in refusal and "KAIZEN_TOOLS_ALLOW_PRIVATE" in refusal


async def test_secrets_from_credentials_never_reach_events(harness, tool_api):
    secret = "sk-tool-secret-0123456789"
    echo = {"type": "http", "name": "echo", "url": f"{tool_api.url}/echo-headers",
            "headers": [{"name": "Authorization", "value": "Bearer {{secret}}", "credential": "api"}]}
    harness.fake.script("echo", replies=[ToolCalls(("echo", {})), {"answer": "ok"}])

    async def credentials(name):  # (the run driver's resolver: the key, and where tools may send it)
        return StoredCredential(secret, [tool_api.url]) if name == "api" else None

    result = await harness.run(agent_graph([echo]), {"task": "echo"}, tools_allow_private=True, tool_credentials=credentials)
    assert result.status == "succeeded", result.error
    assert tool_api.calls("/echo-headers")[0]["headers"]["Authorization"] == f"Bearer {secret}"
    assert secret not in json.dumps(harness.events.events)
    assert secret not in json.dumps(harness.checkpoints.saved)
    assert "[redacted]" in tool_messages(harness.fake.calls("echo")[-1])[0]["content"]


async def test_a_recorded_tool_result_is_replayed_on_resume(harness, tool_api):
    """The node fails after its tool call (the model then errors); resumed, it replays the call's
    recorded result: the order is placed once."""
    harness.fake.script("order", replies=[ToolCalls(("place_order", {"item": "tea"})), 400, {"answer": "ordered"}])
    doc = agent_graph([http_tool(ORDER, tool_api.url)])
    first = await harness.run(doc, {"task": "order"}, tools_allow_private=True)
    assert first.status == "failed" and len(tool_api.calls("/orders")) == 1
    second = await harness.run(doc, {"task": "order"}, tools_allow_private=True)
    assert second.status == "succeeded", second.error
    assert len(tool_api.calls("/orders")) == 1 and tool_api.calls("/orders")[0]["body"] == {"item": "tea", "source": "kaizen"}
    replayed = [e["data"] for e in harness.events.events if e["event"] == "post_tool_call" and e["data"].get("replayed")]
    assert [r["tool"] for r in replayed] == ["place_order"]


async def _cut_off_order(harness, tool_api, doc):
    """Run until the order's POST is in flight, then stop the engine (as a dying worker would)."""
    tool_api.order_delay = 3
    harness.fake.script("order", replies=[ToolCalls(("place_order", {"item": "tea"})), {"answer": "ordered"}])
    engine = harness.engine(doc, tools_allow_private=True)
    task = asyncio.ensure_future(engine.run({"task": "order"}))
    for _ in range(400):
        if tool_api.calls("/orders"):
            break
        await asyncio.sleep(0.025)
    engine.request_cancel("worker died")
    result = await task
    assert result.status == "cancelled"
    entry = harness.checkpoints.saved["r1"]["helper"]["tool_calls"][0]
    assert entry["status"] == "started" and entry["idempotent"] is False
    return entry


async def test_a_non_idempotent_call_in_flight_interrupts_the_run_and_resume_decides(harness, tool_api):
    doc = agent_graph([http_tool(ORDER, tool_api.url)])
    await _cut_off_order(harness, tool_api, doc)
    tool_api.order_delay = 0
    resumed = await harness.run(doc, {"task": "order"}, tools_allow_private=True)
    assert resumed.status == "interrupted"
    assert resumed.error["type"] == "tool_interrupted" and resumed.error["tool"] == "place_order"
    assert resumed.error["node"] == "helper" and resumed.error["arguments"] == {"item": "tea"}
    assert "place_order" in resumed.error["message"] and len(tool_api.calls("/orders")) == 1
    # the user chooses: skip (the model hears the outcome is unknown; nothing is sent again)
    harness.checkpoints.saved["r1"]["helper"]["tool_calls"][0]["resolution"] = "skip"
    skipped = await harness.run(doc, {"task": "order"}, tools_allow_private=True)
    assert skipped.status == "succeeded", skipped.error
    assert len(tool_api.calls("/orders")) == 1
    assert "skipped by the user" in tool_messages(harness.fake.calls("order")[-1])[0]["content"]


async def test_resume_with_retry_makes_the_call_again(harness, tool_api):
    doc = agent_graph([http_tool(ORDER, tool_api.url)])
    await _cut_off_order(harness, tool_api, doc)
    tool_api.order_delay = 0
    harness.checkpoints.saved["r1"]["helper"]["tool_calls"][0]["resolution"] = "retry"
    retried = await harness.run(doc, {"task": "order"}, tools_allow_private=True)
    assert retried.status == "succeeded", retried.error
    assert len(tool_api.calls("/orders")) == 2


async def test_an_idempotent_call_in_flight_is_simply_made_again(harness, tool_api):
    harness.fake.script("slow", replies=[ToolCalls(("slow", {"s": "3"})), {"answer": "done"}])
    slow = {"type": "http", "name": "slow", "url": f"{tool_api.url}/slow", "parameters": [{"name": "s"}]}
    doc = agent_graph([slow])
    engine = harness.engine(doc, tools_allow_private=True)
    task = asyncio.ensure_future(engine.run({"task": "slow"}))
    for _ in range(400):
        if tool_api.calls("/slow"):
            break
        await asyncio.sleep(0.025)
    engine.request_cancel("worker died")
    assert (await task).status == "cancelled"
    harness.fake.script("slow", replies=[{"answer": "done"}])
    resumed = await harness.run(doc, {"task": "slow"}, tools_allow_private=True)
    assert resumed.status == "succeeded", resumed.error
    assert len(tool_api.calls("/slow")) == 2


# -- MCP ------------------------------------------------------------------------------------------
def mcp_resolver(server):
    async def resolve(name):
        return McpEndpoint(name, server.url) if name == "docs" else None
    return resolve


async def test_mcp_tools_are_listed_with_their_schemas(mcp_test_server):
    tools = {t.name: t for t in await list_tools(McpEndpoint("docs", mcp_test_server.url), allow_private=True)}
    assert set(tools) >= {"search", "add", "slow_write"}
    assert tools["search"].input_schema["required"] == ["query"] and tools["search"].read_only
    assert not tools["slow_write"].read_only


async def test_an_agent_calls_an_mcp_server_tool_and_uses_its_result(harness, mcp_test_server):
    mcp_test_server.calls.clear()
    harness.fake.script("research kaizen", replies=[
        ToolCalls(("search", {"query": "kaizen"}), ("add", {"a": 2, "b": 3})), {"answer": "continuous improvement"}])
    doc = agent_graph([{"type": "mcp", "server": "docs", "tools": ["search", "add"]}])
    result = await harness.run(doc, {"task": "research kaizen"}, tools_allow_private=True,
                               mcp_resolver=mcp_resolver(mcp_test_server))
    assert result.status == "succeeded", result.error
    assert sorted(mcp_test_server.calls) == [("add", {"a": 2, "b": 3}), ("search", {"query": "kaizen", "limit": 3})]
    first, final = harness.fake.calls("research kaizen")
    assert [t["function"]["name"] for t in first["body"]["tools"]] == ["search", "add"]
    contents = {m["tool_call_id"]: m["content"] for m in tool_messages(final)}
    assert contents["call_1_1"] == "5" and "continuous improvement" in contents["call_1_0"]


async def test_an_mcp_server_on_a_private_address_is_refused(harness, mcp_test_server):
    doc = agent_graph([{"type": "mcp", "server": "docs", "tools": ["search"]}])
    result = await harness.run(doc, {"task": "x"}, mcp_resolver=mcp_resolver(mcp_test_server))
    assert result.status == "failed"
    assert "private, loopback or reserved" in result.error["message"]


async def test_an_unknown_mcp_tool_fails_the_node_with_what_the_server_offers(harness, mcp_test_server):
    doc = agent_graph([{"type": "mcp", "server": "docs", "tools": ["nope"]}])
    result = await harness.run(doc, {"task": "x"}, tools_allow_private=True, mcp_resolver=mcp_resolver(mcp_test_server))
    assert result.status == "failed" and "does not offer nope" in result.error["message"] and "search" in result.error["message"]


async def test_an_unknown_mcp_server_or_credential_fails_the_node_saying_where_to_add_it(harness, tool_api):
    doc = agent_graph([{"type": "mcp", "server": "research-docs", "tools": ["search"]}])
    result = await harness.run(doc, {"task": "x"}, tools_allow_private=True, mcp_resolver=mcp_resolver(tool_api))
    assert result.status == "failed"
    assert ("unknown MCP server 'research-docs': add it on the Connections page (MCP servers) or POST /api/mcp-servers/"
            in result.error["message"]), result.error
    keyed = http_tool(WEATHER, tool_api.url, headers=[{"name": "Authorization", "value": "Bearer {{secret}}",
                                                       "credential": "missing"}])
    harness.fake.script("keyed", replies=[ToolCalls(("get_weather", {"city": "Oslo"})), {"answer": "no"}])
    result = await harness.run(agent_graph([keyed]), {"task": "keyed"}, tools_allow_private=True)
    assert result.status == "succeeded" and tool_api.calls("/weather") == []  # (the model hears why)
    told = tool_messages(harness.fake.calls("keyed")[-1])[0]["content"]
    assert "unknown credential 'missing': store it on the Connections page (Stored keys) or POST /api/credentials/" in told


# -- the Tool node ------------------------------------------------------------------------------
async def test_a_tool_node_calls_its_tool_with_wired_inputs(harness, tool_api):
    doc = {"inputs": {"city": {"type": "string"}}, "outputs": {"forecast": {"type": "any"}},
           "nodes": [{"id": "fetch", "kind": "tool", "config": {"tool": http_tool(WEATHER, tool_api.url)}}],
           "edges": [edge("@inputs", "city", "fetch", "city"), edge("fetch", "result", "@outputs", "forecast")]}
    result = await harness.run(doc, {"city": "Lima"}, tools_allow_private=True)
    assert result.status == "succeeded", result.error
    assert result.outputs["forecast"]["forecast"] == "sunny in Lima"
    assert harness.fake.calls() == []  # no LLM


async def test_a_tool_node_fails_on_an_http_error(harness, tool_api):
    missing = {"type": "http", "name": "missing", "url": f"{tool_api.url}/nothing-here"}
    doc = {"outputs": {"r": {"type": "any"}}, "nodes": [{"id": "fetch", "kind": "tool", "config": {"tool": missing}}],
           "edges": [edge("fetch", "result", "@outputs", "r")]}
    result = await harness.run(doc, {}, tools_allow_private=True)
    assert result.status == "failed" and "HTTP 404" in result.error["message"]


@pytest.mark.parametrize("config, problem", [
    ({"url": "http://{{host}}/x", "parameters": [{"name": "host"}]}, "host cannot be templated"),
    ({"url": "https://example.com/{{nope}}"}, "unknown parameter"),
    ({"url": "ftp://example.com/"}, "http(s) URL"),
    ({"url": "https://example.com/", "body": "{not json"}, "not valid JSON"),
    ({"url": "https://example.com/", "allowed_hosts": ["api.example.org"]}, "not in allowed_hosts"),
    ({"url": "https://example.com/", "headers": [{"name": "X-Key", "value": "{{secret}}"}]}, "needs a credential"),
])
def test_http_tool_configs_are_checked(config, problem):
    from pydantic import ValidationError

    from graphs.engine.tools import HttpToolConfig

    with pytest.raises(ValidationError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        HttpToolConfig.model_validate({"name": "t", **config})


async def test_big_answers_are_cut_at_the_limit(tool_api):
    from graphs.engine.tools import HttpTool, HttpToolConfig

    tool = HttpTool(HttpToolConfig(name="big", url=f"{tool_api.url}/big?n=50000", max_response_bytes=1000))

    async def none(_name):
        return None

    result = await tool.call({}, ToolEnv(none, allow_private=True))
    assert result.truncated and result.bytes == 1000 and "[cut at 1000 bytes]" in result.content


async def test_a_tool_call_cut_off_inside_a_for_each_item_interrupts_the_run_naming_the_nested_node(harness, tool_api):
    body = agent_graph([http_tool(ORDER, tool_api.url)])
    body["inputs"] = {"item": {"type": "string"}}
    body["edges"][0] = edge("@inputs", "item", "helper", "task")
    doc = {"inputs": {"items": {"type": "list"}}, "outputs": {"results": {"type": "list"}},
           "nodes": [{"id": "each", "kind": "for_each", "config": {"body": body}}],
           "edges": [edge("@inputs", "items", "each", "items"), edge("each", "results", "@outputs", "results")]}
    tool_api.order_delay = 3
    harness.fake.script("order", replies=[ToolCalls(("place_order", {"item": "tea"})), {"answer": "ordered"}])
    engine = harness.engine(doc, tools_allow_private=True)
    task = asyncio.ensure_future(engine.run({"items": ["order tea"]}))
    for _ in range(400):
        if tool_api.calls("/orders"):
            break
        await asyncio.sleep(0.025)
    engine.request_cancel("worker died")
    assert (await task).status == "cancelled"
    tool_api.order_delay = 0
    resumed = await harness.run(doc, {"items": ["order tea"]}, tools_allow_private=True)
    assert resumed.status == "interrupted", resumed.error
    assert resumed.error["type"] == "tool_interrupted" and resumed.error["node"] == "each/0/helper"
    harness.checkpoints.saved["r1"]["each/0/helper"]["tool_calls"][0]["resolution"] = "skip"
    done = await harness.run(doc, {"items": ["order tea"]}, tools_allow_private=True)
    assert done.status == "succeeded", done.error
    assert len(tool_api.calls("/orders")) == 1
