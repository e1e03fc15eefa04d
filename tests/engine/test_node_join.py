"""join / parallel: fan-out is implicit, join waits for all or the first k."""

from __future__ import annotations

from tests.helpers import agent, edge


def fan_out(n: int, **join_config):
    nodes = [agent(f"b{i}", ["task"], [f"out{i}"]) for i in range(n)]
    nodes.append({"id": "join", "kind": "join", "config": {
        "inputs": [{"name": f"in{i}", "type": "string"} for i in range(n)], **join_config}})
    edges = [edge("@inputs", "task", f"b{i}", "task") for i in range(n)]
    edges += [edge(f"b{i}", f"out{i}", "join", f"in{i}") for i in range(n)]
    edges += [edge("join", "merged", "@outputs", "merged"), edge("join", "count", "@outputs", "count")]
    return {"inputs": {"task": {"type": "string"}}, "outputs": {"merged": {"type": "object"}, "count": {"type": "integer"}},
            "nodes": nodes, "edges": edges}


async def test_five_one_second_branches_run_in_parallel_and_join_waits_for_all(harness):
    harness.fake.script(match="- out", latency=1.0)
    result = await harness.run(fan_out(5), {"task": "t"})
    assert result.status == "succeeded", result.error
    assert result.outputs["count"] == 5 and set(result.outputs["merged"]) == {f"in{i}" for i in range(5)}
    # in parallel: all five asked before the first answer (1 s) could have come back
    asked = [c["at"] for c in harness.fake.calls("- out")]
    assert len(asked) == 5 and max(asked) - min(asked) < 1.0, asked


async def test_first_k_starts_before_slow_branches_finish(harness):
    harness.fake.script(match="- out0", latency=0.05)
    harness.fake.script(match="- out1", latency=0.6)
    result = await harness.run(fan_out(2, wait_for="first_k", k=1), {"task": "t"})
    assert result.status == "succeeded"
    assert result.outputs["merged"] == {"in0": "ok"}
    join_start = next(i for i, e in enumerate(harness.events.events) if e["event"] == "pre_node" and e["node_id"] == "join")
    b1_end = next(i for i, e in enumerate(harness.events.events) if e["event"] == "post_node" and e["node_id"] == "b1")
    assert join_start < b1_end
