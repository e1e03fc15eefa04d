"""for_each on the engine's scheduling parts: at most ``concurrency`` items at once, items wait
for their ``depends_on``, a dependency cycle fails clearly. Judged by the server's clock."""

from __future__ import annotations

from tests.helpers import agent, edge


def for_each(**config):
    body = {"inputs": {"item": {"type": "any"}}, "outputs": {"answer": {"type": "string"}},
            "nodes": [agent("worker", ["item"], ["answer"], instructions="ITEM {{item}}")],
            "edges": [edge("@inputs", "item", "worker", "item"), edge("worker", "answer", "@outputs", "answer")]}
    return {"inputs": {"items": {"type": "list"}}, "outputs": {"results": {"type": "list"}},
            "nodes": [{"id": "each", "kind": "for_each", "config": {"body": body, "item_field": "text", **config}}],
            "edges": [edge("@inputs", "items", "each", "items"), edge("each", "results", "@outputs", "results")]}


async def test_concurrency_bounds_items_in_flight(harness):
    harness.fake.script(match="ITEM", latency=0.4)
    items = [{"id": f"i{n}", "text": f"t{n}"} for n in range(4)]
    result = await harness.run(for_each(concurrency=2), {"items": items})
    assert result.status == "succeeded", result.error
    assert [r["id"] for r in result.outputs["results"]] == ["i0", "i1", "i2", "i3"]
    arrivals = sorted(c["at"] for c in harness.fake.calls("ITEM"))
    assert arrivals[1] - arrivals[0] < 0.3  # two at once
    assert arrivals[2] - arrivals[0] >= 0.35  # the third waited for a free slot (0.4 s answers)


async def test_dependencies_wait_and_a_cycle_fails(harness):
    harness.fake.script(match="ITEM", latency=0.2)
    items = [{"id": "a", "text": "A"}, {"id": "b", "text": "B", "depends_on": ["a"]}, {"id": "c", "text": "C"}]
    result = await harness.run(for_each(), {"items": items})
    assert result.status == "succeeded", result.error
    (a,), (b,), (c,) = (harness.fake.calls(f"ITEM {x}") for x in "ABC")
    assert abs(a["at"] - c["at"]) < 0.15 and b["at"] - a["at"] >= 0.15
    cyclic = [{"id": "a", "text": "A", "depends_on": ["b"]}, {"id": "b", "text": "B", "depends_on": ["a"]}]
    result = await harness.run(for_each(), {"items": cyclic}, run_id="r2")
    assert result.status == "failed" and "dependency cycle" in result.error["message"]
