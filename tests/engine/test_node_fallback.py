"""fallback chain: levels tried in turn on error/timeout, quality reported, structured error."""

from __future__ import annotations

from graphs.engine.validate import validate_graph
from tests.helpers import agent, edge

OUT = ("answer", "quality", "level", "status", "suggestions")


def chain_doc(**config):
    # only the level the tests make hang has a short timeout: a level that answers must never time out
    # because the machine is loaded
    levels = [{"model": "gpt-4", "quality": "high", "level_timeout_s": 30},
              {"model": "gpt-3.5-turbo", "quality": "medium", "level_timeout_s": 0.5},
              {"model": "llama3", "quality": "basic", "level_timeout_s": 30}]
    return {
        "inputs": {"task": {"type": "string"}},
        "outputs": {k: {"type": "any", "required": k != "answer"} for k in OUT},
        "nodes": [{"id": "fb", "kind": "fallback", "config": {"levels": levels, **config}}],
        "edges": [edge("@inputs", "task", "fb", "task")] + [edge("fb", k, "@outputs", k) for k in OUT],
    }


async def test_level_three_answers_after_500_and_timeout(harness):
    harness.fake.script(model="gpt-4", status=500)
    harness.fake.script(model="gpt-3.5-turbo", hang=True)
    harness.fake.script(model="llama3", reply={"answer": "basic answer"})
    result = await harness.run(chain_doc(), {"task": "t"})
    assert result.status == "succeeded", result.error
    assert result.outputs["answer"] == "basic answer"
    assert result.outputs["quality"] == "basic" and result.outputs["level"] == 3
    fallbacks = [e["data"] for e in harness.events.events if e["event"] == "fallback"]
    assert [f["level"] for f in fallbacks] == [1, 2] and "timed out" in fallbacks[1]["error"]


async def test_all_levels_fail_gives_structured_error_with_suggestions(harness):
    harness.fake.script(status=500)
    result = await harness.run(chain_doc(), {"task": "t"})
    assert result.status == "succeeded"
    assert result.outputs["status"] == "error" and result.outputs["quality"] == "none"
    assert result.outputs["suggestions"]


async def test_without_final_error_the_node_fails(harness):
    harness.fake.script(status=500)
    result = await harness.run(chain_doc(final_error=False), {"task": "t"})
    assert result.status == "failed" and "all 3 levels failed" in result.error["message"]


async def test_malformed_json_moves_to_the_next_level_with_raw_answer_in_events(harness):
    harness.fake.script(model="gpt-4", reply="{not json")
    result = await harness.run(chain_doc(), {"task": "t"})
    assert result.outputs["level"] == 2
    retries = [e["data"] for e in harness.events.events if e["event"] == "llm_retry"]
    assert retries and retries[0]["raw"] == "{not json"


async def test_error_edges_between_agents_give_the_same_behaviour(harness):
    doc = {"inputs": {"task": {"type": "string"}}, "outputs": {"answer": {"type": "string"}},
           "nodes": [agent("l1", ["task"], ["answer"], model="gpt-4"), agent("l2", ["task"], ["answer"], model="gpt-3.5-turbo"),
                     agent("l3", ["task"], ["answer"], model="llama3")],
           "edges": [edge("@inputs", "task", "l1", "task"), edge("l1", "", "l2", "", kind="error"),
                     edge("l2", "", "l3", "", kind="error"), edge("l1", "answer", "@outputs", "answer")]}
    harness.fake.script(model="gpt-4", status=500)
    harness.fake.script(model="gpt-3.5-turbo", status=500)
    harness.fake.script(model="llama3", reply={"answer": "from l3"})
    result = await harness.run(doc, {"task": "t"})
    assert result.status == "succeeded" and result.outputs == {"answer": "from l3"}


def test_chain_without_levels_is_invalid():
    issues = validate_graph(chain_doc(levels=[]))
    assert any(i.node == "fb" and i.path.endswith("levels") for i in issues), issues
