"""Structured outputs: a node's wanted fields travel as response_format json_schema (strict where the
schema allows), against a schema-honouring OpenAI-compatible server over HTTP through the SDK; the
json_object and text modes keep the re-ask loop; every template and demo graph succeeds against a
server that follows only the schema it is sent."""

from __future__ import annotations

import pytest

from graphs.demo import DEMO_GRAPHS
from graphs.engine.llm.base import LLMRequest
from graphs.engine.llm.openai_provider import OpenAIProvider
from graphs.engine.llm.structured import json_schema_format, response_format
from graphs.engine.memory import HotTier, InMemoryColdStore, InMemoryWarmStore, TieredMemory
from graphs.engine.runtime.context import request_digest
from graphs.engine.tools import McpEndpoint
from graphs.pattern_templates import ETL_STEPS, MCP_SERVER, TEMPLATES
from tests.fakellm import strict_problems
from tests.helpers import edge

INPUTS = {"task": "Analyse engagement data and build a dashboard", "steps": ETL_STEPS, "question": "hello",
          "session_id": "s1", "request": "last week", "topic": "remote work"}


def one_agent(outputs, **config):
    return {"inputs": {"task": {"type": "string"}}, "outputs": {o["name"]: {"type": "any", "required": False} for o in outputs},
            "nodes": [{"id": "extract", "kind": "agent",
                       "config": {"signature": {"inputs": [{"name": "task"}], "outputs": outputs}, **config}}],
            "edges": [edge("@inputs", "task", "extract", "task")]
            + [edge("extract", o["name"], "@outputs", o["name"]) for o in outputs]}


SIGNATURE = [{"name": "title", "type": "string"}, {"name": "count", "type": "integer"},
             {"name": "tags", "type": "list", "required": False}, {"name": "note", "type": "string", "required": False}]


# -- the schema as sent -------------------------------------------------------------------------
def test_a_strictable_schema_is_sent_strict_with_optional_fields_nullable():
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string", "enum": ["x", "y"]},
                                               "steps": {"type": "array", "items": {"type": "object", "properties": {
                                                   "id": {"type": "string"}}, "required": ["id"]}}},
              "required": ["a", "steps"]}
    fmt = json_schema_format(schema, "my node/1")
    sent = fmt["json_schema"]["schema"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True and fmt["json_schema"]["name"] == "my_node_1"
    assert strict_problems(sent) == []
    assert sent["required"] == ["a", "b", "steps"] and sent["properties"]["b"] == {"type": ["string", "null"], "enum": ["x", "y", None]}
    assert sent["properties"]["steps"]["items"]["additionalProperties"] is False
    assert "additionalProperties" not in schema  # (the node's schema is not changed)


@pytest.mark.parametrize("free", [{"type": "object"}, {"type": "array"}, {}], ids=["object", "list", "any"])
def test_a_free_form_field_sends_the_schema_as_guidance_not_strict(free):
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": free}, "required": ["a", "b"]}
    fmt = json_schema_format(schema)
    assert fmt["json_schema"]["strict"] is False and fmt["json_schema"]["schema"] == schema
    assert strict_problems(schema)  # (what OpenAI would refuse in strict mode)


def test_each_mode_builds_its_request_body():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    request = LLMRequest(model="m", messages=[{"role": "user", "content": "hi"}], response_schema=schema, max_tokens=5)
    assert OpenAIProvider(None, "k").chat_body(request)["response_format"]["type"] == "json_schema"
    assert OpenAIProvider(None, "k", output_mode="json_object").chat_body(request)["response_format"] == {"type": "json_object"}
    assert "response_format" not in OpenAIProvider(None, "k", output_mode="text").chat_body(request)
    request.output_mode = "json_object"  # a node's own setting wins over the provider's
    assert OpenAIProvider(None, "k", output_mode="text").chat_body(request)["response_format"] == {"type": "json_object"}
    assert response_format(None, "json_schema") is None
    with pytest.raises(ValueError):
        OpenAIProvider(None, "k", output_mode="xml")


def test_the_output_mode_is_not_part_of_the_request_digest():
    """Journals recorded before structured outputs (json_object) still replay: the digest covers the
    model, messages, temperature and inputs, and the messages are unchanged."""
    base = dict(model="m", messages=[{"role": "user", "content": "hi"}], response_schema={"type": "object"})
    digests = {request_digest(LLMRequest(**base, output_mode=mode, schema_name=f"n{mode}"))
               for mode in ("auto", "json_schema", "json_object", "text")}
    assert len(digests) == 1


# -- against a schema-honouring server ------------------------------------------------------------
async def test_an_agent_sends_its_signature_as_a_strict_schema_and_gets_its_outputs(harness):
    harness.fake.honour_schema = True
    harness.fake.script(honour=True, reply={"title": "Q3 report", "count": 3, "tags": ["x"]})
    signature = [{"name": "title", "type": "string"}, {"name": "count", "type": "integer"},
                 {"name": "labels", "type": "string", "required": False}, {"name": "note", "type": "string", "required": False}]
    result = await harness.run(one_agent(signature), {"task": "t"})
    assert result.status == "succeeded", result.error
    # the server answered note/labels as null (strict: optional fields are nullable); they are left out
    assert result.outputs == {"title": "Q3 report", "count": 3}
    (call,) = harness.fake.calls()
    fmt = call["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True and fmt["json_schema"]["name"] == "extract"
    props = fmt["json_schema"]["schema"]["properties"]
    assert props["count"]["type"] == "integer" and props["note"]["type"] == ["string", "null"]
    assert fmt["json_schema"]["schema"]["required"] == ["title", "count", "labels", "note"]


async def test_a_free_form_output_goes_as_guidance_and_the_server_accepts_it(harness):
    harness.fake.honour_schema = True
    result = await harness.run(one_agent(SIGNATURE), {"task": "t"})
    assert result.status == "succeeded", result.error
    assert result.outputs == {"title": "ok", "count": 1, "tags": [], "note": "ok"}
    assert harness.fake.calls()[0]["response_format"]["json_schema"]["strict"] is False


async def test_json_object_mode_against_a_server_that_ignores_the_prompt_re_asks_then_fails(harness):
    """The old way (keys named only in the prompt) against a schema-honouring server: the answer is
    not what was asked, the re-ask loop runs, and the node fails with the raw answer."""
    harness.fake.honour_schema = True
    result = await harness.run(one_agent([{"name": "answer"}], output_mode="json_object", max_format_retries=1), {"task": "t"})
    assert result.status == "failed"
    assert "malformed answer after 2 attempts: missing field 'answer'" in result.error["message"]
    assert [c["response_format"] for c in harness.fake.calls()] == [{"type": "json_object"}] * 2
    retries = [e for e in harness.events.events if e["event"] == "llm_retry"]
    assert [e["data"]["attempt"] for e in retries] == [1, 2]


@pytest.mark.parametrize("mode", ["json_object", "text"])
async def test_fallback_modes_keep_the_re_ask_loop(harness, mode):
    harness.fake.script(match="TASK", replies=["not json", '{"answer": 1}', {"answer": "fine"}])
    result = await harness.run(one_agent([{"name": "answer"}], output_mode=mode), {"task": "TASK"})
    assert result.status == "succeeded", result.error
    assert result.outputs == {"answer": "fine"}
    calls = harness.fake.calls()
    assert len(calls) == 3 and all(c["response_format"] == ({"type": "json_object"} if mode == "json_object" else None)
                                   for c in calls)
    assert "must be of type string" in calls[2]["text"]


async def test_an_llm_router_sends_its_routes_as_an_enum(harness):
    from tests.engine.test_node_router import routed

    harness.fake.script(match="route tasks", honour=True, reply={"route": "data"})
    result = await harness.run(routed("llm"), {"task": "anything"})
    assert result.status == "succeeded", result.error
    assert result.outputs["route"] == "data" and result.nodes["coder"]["status"] == "skipped"
    fmt = harness.fake.calls("route tasks")[0]["response_format"]["json_schema"]
    assert fmt["strict"] is True and fmt["name"] == "route"
    assert fmt["schema"]["properties"]["route"]["enum"] == ["code", "data", "none"]


async def test_consensus_options_are_an_enum_the_server_keeps_to(harness):
    harness.fake.honour_schema = True
    doc = {"inputs": {"task": {"type": "string"}}, "outputs": {"d": {"type": "string"}},
           "nodes": [{"id": "vote", "kind": "consensus", "config": {"options": ["Approve", "Reject"]}}],
           "edges": [edge("@inputs", "task", "vote", "task"), edge("vote", "final_decision", "@outputs", "d")]}
    result = await harness.run(doc, {"task": "Ship it?"})
    assert result.status == "succeeded", result.error
    assert result.outputs == {"d": "Approve"}
    schemas = [c["response_format"]["json_schema"] for c in harness.fake.calls()]
    assert len(schemas) == 3 and all(s["strict"] and s["schema"]["properties"]["decision"]["enum"] == ["Approve", "Reject"]
                                     for s in schemas)


async def test_a_planner_gets_well_formed_steps_from_its_schema(harness):
    harness.fake.honour_schema = True
    doc = {"inputs": {"task": {"type": "string"}}, "outputs": {"steps": {"type": "list"}},
           "nodes": [{"id": "plan", "kind": "planner", "config": {}}],
           "edges": [edge("@inputs", "task", "plan", "task"), edge("plan", "steps", "@outputs", "steps")]}
    result = await harness.run(doc, {"task": "t"})
    assert result.status == "succeeded", result.error
    assert result.outputs["steps"] == [{"id": "ok", "description": "ok", "depends_on": []}]
    fmt = harness.fake.calls()[0]["response_format"]["json_schema"]
    assert fmt["strict"] is True and fmt["schema"]["properties"]["steps"]["minItems"] == 1


async def test_the_server_refuses_a_strict_schema_outside_the_subset(harness):
    """The scripted server is as strict as OpenAI: a body claiming strict for a free-form schema is a 400."""
    provider = harness.openai()
    request = LLMRequest(model="m", messages=[{"role": "user", "content": "hi"}])
    body = provider.chat_body(request)
    body["response_format"] = {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": {"type": "object"}}}
    from openai import BadRequestError
    from openai.types.chat import ChatCompletion
    with provider._lease(request) as client, pytest.raises(BadRequestError, match="object without properties"):
        await client.post("/chat/completions", body=body, cast_to=ChatCompletion)


@pytest.mark.parametrize("spec", [pytest.param(t.spec, id=t.slug) for t in TEMPLATES]
                         + [pytest.param(spec, id=name) for name, _d, spec in DEMO_GRAPHS])
async def test_every_template_and_demo_graph_succeeds_against_a_schema_honouring_server(harness, spec, mcp_test_server):
    harness.fake.honour_schema = True
    inputs = {k: v for k, v in INPUTS.items() if k in spec["inputs"]}

    async def mcp_servers(name):  # (the research template's MCP connection: the suite's MCP server)
        return McpEndpoint(name, mcp_test_server.url) if name == MCP_SERVER else None

    engine = harness.engine(spec, memory=TieredMemory(HotTier(), InMemoryWarmStore(), InMemoryColdStore()), memory_owner=1,
                            mcp_resolver=mcp_servers, tools_allow_private=True)
    result = await engine.run(inputs)
    assert result.status == "succeeded", result.error
    chats = [c for c in harness.fake.calls() if c["body"].get("messages")]
    assert chats and all(c["response_format"]["type"] == "json_schema" for c in chats)
    trouble = [e for e in harness.events.events if e["event"] in ("llm_retry", "fallback", "on_error")]
    assert trouble == []  # no refused schema, no re-ask, no fallback level: every answer was right the first time


async def test_a_model_without_structured_outputs_is_asked_in_json_mode_and_remembered(harness):
    """OpenAI's gpt-4 refuses json_schema with a 400: the provider asks again in JSON mode (the keys
    are in the prompt) and asks that model in JSON mode from then on; other models keep json_schema."""
    harness.fake.no_structured_outputs.add("gpt-4")
    doc = {"inputs": {"task": {"type": "string"}}, "outputs": {"a": {"type": "string"}, "b": {"type": "string"}},
           "nodes": [{"id": "first", "kind": "agent", "config": {"model": "gpt-4"}},
                     {"id": "second", "kind": "agent", "config": {"model": "gpt-4"}},
                     {"id": "third", "kind": "agent", "config": {"model": "gpt-4o"}}],
           "edges": [edge("@inputs", "task", "first", "task"), edge("first", "answer", "second", "task"),
                     edge("second", "answer", "third", "task"), edge("second", "answer", "@outputs", "a"),
                     edge("third", "answer", "@outputs", "b")]}
    result = await harness.run(doc, {"task": "t"})
    assert result.status == "succeeded", result.error
    sent = [(c["model"], (c["response_format"] or {}).get("type")) for c in harness.fake.calls()]
    assert sent == [("gpt-4", "json_schema"), ("gpt-4", "json_object"), ("gpt-4", "json_object"), ("gpt-4o", "json_schema")]
    assert [e["data"]["index"] for e in harness.events.events if e["event"] == "post_llm_call"] == [0, 0, 0]
