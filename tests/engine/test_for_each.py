"""for_each on the engine's scheduling parts: at most ``concurrency`` items at once, items wait
for their ``depends_on``, a dependency cycle fails clearly. Judged by the server's clock."""

from __future__ import annotations

import asyncio

from graphs.engine.ports import MemoryCheckpointStore
from graphs.engine.scheduling import Completions, drive
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


class SavesOfEach(MemoryCheckpointStore):
    """Records every checkpoint of the for_each node: its status and the items it holds as done."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, list[str]]] = []

    def queue_save(self, run_id, node_id, state):
        if node_id == "each":
            self.log.append((state["status"], sorted(state["scratch"].get("done", {}))))
        return super().queue_save(run_id, node_id, state)


async def test_each_finished_item_is_checkpointed_before_the_next_starts_and_a_resume_repeats_none(harness):
    harness.fake.script(match="ITEM", latency=0.05)
    harness.checkpoints = store = SavesOfEach()
    items = [{"id": "a", "text": "A"}, {"id": "b", "text": "B", "depends_on": ["a"]},
             {"id": "c", "text": "C", "depends_on": ["b"]}]
    result = await harness.run(for_each(), {"items": items})
    assert result.status == "succeeded", result.error
    assert store.log == [("running", ["a"]), ("running", ["a", "b"]), ("running", ["a", "b", "c"]),
                         ("succeeded", ["a", "b", "c"])]
    # the same run resumed with c unfinished: only c runs again, a and b come from the checkpoint
    saved = store.saved["r1"]
    saved["each"]["status"] = "running"
    del saved["each"]["scratch"]["done"]["c"]
    del saved["each/2/worker"]
    store.log.clear()
    result = await harness.run(for_each(), {"items": items})
    assert result.status == "succeeded", result.error
    assert [r["id"] for r in result.outputs["results"]] == ["a", "b", "c"]
    assert [len(harness.fake.calls(f"ITEM {x}")) for x in "ABC"] == [1, 1, 2]
    assert store.log == [("running", ["a", "b", "c"]), ("succeeded", ["a", "b", "c"])]


async def test_a_failed_item_fails_the_node_and_cancels_the_items_in_flight(harness):
    harness.fake.script(match="ITEM A", status=500)
    slow = harness.fake.script(match="ITEM B", latency=30)
    result = await harness.run(for_each(), {"items": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]})
    assert result.status == "failed" and "item a failed" in result.error["message"]
    assert harness.fake.calls("ITEM B", completed=True) == [] and slow is not None
    assert harness.checkpoints.saved["r1"]["each"]["status"] == "failed"


async def test_drive_settles_a_whole_batch_before_it_starts_more_and_a_skip_takes_no_slot():
    """The loop itself, on plain futures: at most ``limit`` at once, a batch settled as one."""
    log: list[str] = []
    gates = {k: asyncio.get_running_loop().create_future() for k in "abcd"}
    running: Completions[str] = Completions()

    async def launch(key):
        log.append(f"launch {key}")
        if key == "s":  # settles at once (a skipped node): it releases d and holds no slot
            return ["d"]
        running.start(key, gates[key])
        return []

    async def settle(key, task):
        log.append(f"settle {key}")
        return {"a": ["s"], "b": ["c"]}.get(key, [])

    async def after_batch():
        log.append("checkpoint")

    async def finish(*keys):
        await asyncio.sleep(0)
        for key in keys:
            gates[key].set_result(key)

    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(finish("a", "b")))
    loop_done = asyncio.ensure_future(drive(running, ["a", "b"], launch=launch, settle=settle,
                                            after_batch=after_batch, limit=2))
    while "launch d" not in log:
        await asyncio.sleep(0)
    assert not loop_done.done() and set(running.tasks) == {"c", "d"}
    await finish("c", "d")
    await loop_done
    assert log[:8] == ["launch a", "launch b", "settle a", "settle b", "checkpoint", "launch s", "launch c", "launch d"]
    assert sorted(log[8:10]) == ["settle c", "settle d"] and log[-1] == "checkpoint"


async def test_drive_stops_settling_once_stopped():
    running: Completions[str] = Completions()
    settled: list[str] = []
    stop = []
    gate = asyncio.get_running_loop().create_future()

    async def launch(key):
        running.start(key, gate)
        return []

    async def settle(key, task):
        settled.append(key)
        return []

    loop_done = asyncio.ensure_future(drive(running, ["a", "b"], launch=launch, settle=settle, stopped=lambda: bool(stop)))
    await asyncio.sleep(0)
    stop.append(True)
    gate.set_result(None)
    await loop_done
    assert settled == [] and set(running.tasks) == {"a", "b"}  # (the caller drains what is left)
