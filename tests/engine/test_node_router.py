"""router: semantic/keyword/llm routing, only the chosen branch runs, graceful/fail, bad config."""

from __future__ import annotations

from graphs.engine.validate import validate_graph
from tests.helpers import agent, edge

SPECIALISTS = [
    {"name": "code", "description": "writes python code functions and unit tests", "keywords": ["code", "python", "function"]},
    {"name": "data", "description": "analyses data sets statistics and charts", "keywords": ["data", "chart", "statistics"]},
]


def routed(strategy: str, **config):
    return {
        "inputs": {"task": {"type": "string"}}, "outputs": {"answer": {"type": "any"}, "route": {"type": "string"}},
        "nodes": [
            {"id": "router", "kind": "router", "config": {"strategy": strategy, "specialists": SPECIALISTS, **config}},
            agent("coder", ["task"], ["answer"], system_prompt="CODER"),
            agent("analyst", ["task"], ["answer"], system_prompt="ANALYST"),
            {"id": "join", "kind": "join", "config": {"inputs": [{"name": "code", "type": "any", "required": False},
                                                                 {"name": "data", "type": "any", "required": False}]}},
        ],
        "edges": [edge("@inputs", "task", "router", "task"), edge("router", "code", "coder", "task"),
                  edge("router", "data", "analyst", "task"), edge("coder", "answer", "join", "code"),
                  edge("analyst", "answer", "join", "data"), edge("join", "first", "@outputs", "answer"),
                  edge("router", "route", "@outputs", "route")],
    }


async def test_semantic_routes_to_the_closest_specialist_and_skips_the_other(harness):
    harness.fake.script(match="CODER", reply={"answer": "def f(): pass"})
    result = await harness.run(routed("semantic"), {"task": "write python code for a function with unit tests"})
    assert result.status == "succeeded", result.error
    assert result.outputs == {"answer": "def f(): pass", "route": "code"}
    assert result.nodes["analyst"]["status"] == "skipped"
    skipped = next(e for e in harness.events.events if e["event"] == "node_skipped")
    assert (skipped["node_id"], skipped["data"]["kind"]) == ("analyst", "agent"), "the run page names a never-started node's kind"
    assert harness.fake.calls("ANALYST") == []
    decision = next(e for e in harness.events.events if e["event"] == "decision")
    assert decision["data"]["route"] == "code" and decision["data"]["scores"]["code"] > decision["data"]["scores"]["data"]


async def test_keyword_routing(harness):
    result = await harness.run(routed("keyword"), {"task": "make a chart of the statistics"})
    assert result.outputs["route"] == "data"
    assert result.nodes["coder"]["status"] == "skipped"


async def test_llm_routing_records_the_reason(harness):
    harness.fake.script(match="route tasks", reply={"route": "data", "reason": "it is about numbers"})
    result = await harness.run(routed("llm"), {"task": "anything"})
    assert result.outputs["route"] == "data"
    decision = next(e for e in harness.events.events if e["event"] == "decision")
    assert decision["data"]["reason"] == "it is about numbers"


async def test_graceful_no_match_takes_the_default_branch(harness):
    result = await harness.run(routed("keyword", default="data"), {"task": "sing a song"})
    assert result.status == "succeeded"
    assert result.outputs["route"] == "data"


async def test_fail_no_match_fails_the_node(harness):
    result = await harness.run(routed("keyword", error_handling="fail"), {"task": "sing a song"})
    assert result.status == "failed"
    assert "no specialist matches" in result.error["message"]


async def test_llm_router_malformed_json_is_asked_again_then_fails_with_raw_answer(harness):
    harness.fake.script(match="route tasks", reply="this is not json")
    result = await harness.run(routed("llm", llm={"model": "gpt-4o-mini"}), {"task": "x"})
    assert result.status == "failed"
    assert result.error["raw"] == "this is not json"
    assert len(harness.fake.calls("route tasks")) == 3


def test_router_without_specialists_is_invalid():
    doc = routed("semantic")
    doc["nodes"][0]["config"]["specialists"] = []
    issues = validate_graph(doc)
    assert any(i.node == "router" and "specialists" in i.path for i in issues), issues
