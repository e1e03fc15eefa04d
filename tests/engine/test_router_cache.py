"""The semantic router's per-process cache of description vectors saves calls but never changes
what a call asks: a warm worker and a cold one send the same request for the same key, so a run
resumed on another worker replays its journal instead of paying again. And the cache is bounded."""

from __future__ import annotations

from graphs.engine.nodes import router as router_module
from tests.engine.test_node_router import routed

TASK = {"task": "write python code for a function with unit tests"}


def _journal(harness, run_id: str) -> dict[str, str]:
    return {c["key"]: c["digest"] for c in harness.checkpoints.saved[run_id]["router"]["llm_calls"]}


async def test_a_warm_cache_skips_the_descriptions_call_and_asks_the_same_for_the_task(harness):
    router_module._EMBED_CACHE.clear()
    cold = await harness.run(routed("semantic"), TASK, run_id="cold")
    warm = await harness.run(routed("semantic"), TASK, run_id="warm")
    assert cold.outputs["route"] == warm.outputs["route"] == "code"
    cold_calls, warm_calls = _journal(harness, "cold"), _journal(harness, "warm")
    assert set(cold_calls) == {"task", "specialists"} and set(warm_calls) == {"task"}
    assert warm_calls["task"] == cold_calls["task"]  # the same request, whatever the cache held


async def test_a_resume_on_a_cold_worker_replays_the_task_call_a_warm_one_made(harness):
    router_module._EMBED_CACHE.clear()
    await harness.run(routed("semantic"), TASK, run_id="warm-up")  # this worker now holds the vectors
    await harness.run(routed("semantic"), TASK, run_id="r1")
    state = harness.checkpoints.saved["r1"]["router"]
    assert [c["key"] for c in state["llm_calls"]] == ["task"]
    state["status"], state["outputs"] = "running", {}  # as if the worker died before the node's end
    router_module._EMBED_CACHE.clear()  # another worker: nothing cached
    events_before = len(harness.events.events)
    again = await harness.run(routed("semantic"), TASK, run_id="r1")
    assert again.outputs["route"] == "code"
    calls = {e["data"]["key"]: e["data"].get("replayed", False) for e in harness.events.events[events_before:]
             if e["event"] == "post_llm_call" and e["node_id"] == "router"}
    # the task's embedding is not paid twice; the descriptions this worker lacks are asked once
    assert calls == {"task": True, "specialists": False}, calls


async def test_the_cache_is_bounded(harness, monkeypatch):
    router_module._EMBED_CACHE.clear()
    monkeypatch.setattr(router_module, "_EMBED_CACHED", 3)
    for i in range(3):
        doc = routed("semantic")
        for s in doc["nodes"][0]["config"]["specialists"]:
            s["description"] += f" variant {i}"
        await harness.run(doc, TASK, run_id=f"r{i}")
    assert len(router_module._EMBED_CACHE) == 3
    assert all(key[-1].endswith("variant 2") or key[-1].endswith("variant 1") for key in router_module._EMBED_CACHE)
