"""planner + for_each: validated plans, steps dispatched to a routed subgraph, dependencies, resume."""

from __future__ import annotations

from graphs.engine.validate import validate_graph
from tests.helpers import agent, edge

STEPS = [{"id": "s1", "description": "fetch data"}, {"id": "s2", "description": "write code"},
         {"id": "s3", "description": "report on s1 and s2", "depends_on": ["s1", "s2"]}]


def body():
    return {"inputs": {"item": {"type": "string"}}, "outputs": {"answer": {"type": "string"}},
            "nodes": [agent("worker", ["item"], ["answer"], instructions="STEP {{item}}")],
            "edges": [edge("@inputs", "item", "worker", "item"), edge("worker", "answer", "@outputs", "answer")]}


def plan_and_run(mode="strict", **fe):
    return {
        "inputs": {"task": {"type": "string"}}, "outputs": {"results": {"type": "list"}, "steps": {"type": "list"}},
        "nodes": [{"id": "plan", "kind": "planner", "config": {"max_plan_steps": 3, "validation_mode": mode}},
                  {"id": "each", "kind": "for_each", "config": {"body": body(), "item_field": "description", **fe}}],
        "edges": [edge("@inputs", "task", "plan", "task"), edge("plan", "steps", "each", "items"),
                  edge("each", "results", "@outputs", "results"), edge("plan", "steps", "@outputs", "steps")],
    }


async def test_plan_steps_run_in_parallel_and_dependencies_wait(harness):
    harness.fake.script(match="planning coordinator", reply={"steps": STEPS})
    harness.fake.script(match="STEP", latency=0.3)
    result = await harness.run(plan_and_run(), {"task": "analyse and report"})
    assert result.status == "succeeded", result.error
    assert [r["id"] for r in result.outputs["results"]] == ["s1", "s2", "s3"]
    # judged by when the fake server received each step (no wall-time bound: the machine may be loaded):
    # s1 and s2 overlap (one after the other, the second would arrive >= 0.3 s after the first), and
    # s3 is asked only after both were answered (>= 0.3 s after the later of them arrived)
    starts = {c["text"].split("STEP ")[1][:5]: c["at"] for c in harness.fake.calls("STEP")}
    assert abs(starts["fetch"] - starts["write"]) < 0.3
    report = harness.fake.calls("STEP report")[0]
    assert report["at"] >= max(c["at"] for c in harness.fake.calls("STEP fetch") + harness.fake.calls("STEP write")) + 0.29
    assert "plan/" not in str(harness.checkpoints.saved["r1"].keys()) and "each/0/worker" in harness.checkpoints.saved["r1"]


async def test_strict_rejects_an_invalid_plan_and_asks_again(harness):
    too_many = [{"id": f"s{i}", "description": "x"} for i in range(5)]
    harness.fake.script(match="planning coordinator", replies=[{"steps": too_many}, {"steps": STEPS[:2]}])
    result = await harness.run(plan_and_run(), {"task": "t"})
    assert result.status == "succeeded", result.error
    assert len(result.outputs["steps"]) == 2
    assert "at most 3" in harness.fake.calls("planning coordinator")[1]["text"]


async def test_warn_accepts_a_repaired_plan_with_a_warning(harness):
    bad = [{"id": "a", "description": "x", "depends_on": ["zzz"]}] + [{"id": f"s{i}", "description": "y"} for i in range(4)]
    harness.fake.script(match="planning coordinator", reply={"steps": bad})
    result = await harness.run(plan_and_run("warn"), {"task": "t"})
    assert result.status == "succeeded"
    assert len(result.outputs["steps"]) == 3 and result.outputs["steps"][0]["depends_on"] == []
    assert "warning" in harness.events.names("plan")


async def test_resumed_for_each_does_not_repeat_finished_items(harness):
    harness.fake.script(match="planning coordinator", reply={"steps": STEPS})
    await harness.run(plan_and_run(), {"task": "t"})
    saved = harness.checkpoints.saved["r1"]
    saved["each"]["status"] = "running"
    del saved["each"]["scratch"]["done"]["s3"]
    saved["each/2/worker"]["status"] = "running"  # s3 was mid-way: its answer is journaled
    before = len(harness.fake.requests)
    result = await harness.run(plan_and_run(), {"task": "t"})
    assert result.status == "succeeded" and len(result.outputs["results"]) == 3
    assert len(harness.fake.requests) == before


async def test_for_each_fed_by_a_string_is_invalid():
    doc = plan_and_run()
    doc["edges"][1] = edge("@inputs", "task", "each", "items")
    issues = validate_graph(doc)
    assert any(i.node == "each" and "expects list" in i.message for i in issues), issues


def test_for_each_body_errors_name_the_nested_field():
    doc = plan_and_run()
    doc["nodes"][1]["config"]["body"]["nodes"][0]["config"]["temperature"] = 9
    issues = validate_graph(doc)
    assert any(i.node == "each" and "body.nodes[0].config.temperature" in i.message for i in issues), issues


async def test_for_each_over_plain_values_and_duplicate_ids(harness):
    doc = plan_and_run()
    doc["nodes"] = doc["nodes"][1:]
    doc["nodes"][0]["config"]["item_field"] = None
    doc["inputs"] = {"items": {"type": "list"}}
    doc["outputs"] = {"results": {"type": "list"}}
    doc["edges"] = [edge("@inputs", "items", "each", "items"), edge("each", "results", "@outputs", "results")]
    result = await harness.run(doc, {"items": ["a", "b", "c"]})
    assert [r["id"] for r in result.outputs["results"]] == ["0", "1", "2"]
    body = doc["nodes"][0]["config"]["body"]
    body["inputs"]["item"]["type"] = "any"
    body["nodes"][0]["config"]["signature"]["inputs"][0]["type"] = "any"
    dup = await harness.run(doc, {"items": [{"id": "x"}, {"id": "x", "depends_on": ["x"]}]}, run_id="r2")
    assert dup.status == "succeeded", dup.error
    assert len(dup.outputs["results"]) == 2
