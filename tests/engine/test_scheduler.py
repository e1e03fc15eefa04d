"""The scheduler: data flow, concurrency, checkpoints, resume without repeated LLM calls,
fallback via error edges, timeouts, cancellation, budget interrupts, malformed answers."""

from __future__ import annotations

import asyncio
import time

from graphs.engine.hooks import HookEvent, HookResult
from tests.helpers import agent, chain, edge


def diamond():
    return {
        "inputs": {"topic": {"type": "string"}}, "outputs": {"final": {"type": "string"}},
        "nodes": [agent("a", ["topic"], ["x"]), agent("b", ["topic"], ["y"]), agent("c", ["x", "y"], ["final"])],
        "edges": [edge("@inputs", "topic", "a", "topic"), edge("@inputs", "topic", "b", "topic"),
                  edge("a", "x", "c", "x"), edge("b", "y", "c", "y"), edge("c", "final", "@outputs", "final")],
    }


async def test_outputs_flow_along_edges_and_branches_overlap(harness):
    harness.fake.script(match="- x (string)", reply={"x": "from-a"}, latency=0.4)
    harness.fake.script(match="- y (string)", reply={"y": "from-b"}, latency=0.4)
    harness.fake.script(match="- final", reply={"final": "done"})
    result = await harness.run(diamond(), {"topic": "cats"})
    assert result.status == "succeeded", result.error
    assert result.outputs == {"final": "done"}
    # Overlap, judged by the server: b's request arrived while a's 0.4 s answer was still pending
    # (run one after the other, b would arrive >= 0.4 s after a). Wall time is left to benchmarks.
    (a_call,), (b_call,) = harness.fake.calls("- x (string)"), harness.fake.calls("- y (string)")
    assert abs(a_call["at"] - b_call["at"]) < 0.3, "independent branches should overlap"
    final_prompt = harness.fake.calls("- final")[0]["text"]
    assert "from-a" in final_prompt and "from-b" in final_prompt
    assert result.prompt_tokens > 0 and result.cost_usd > 0


async def test_checkpoint_after_every_node_and_events_in_order(harness):
    result = await harness.run(chain(3), {"task": "t"})
    assert result.status == "succeeded"
    assert set(harness.checkpoints.saved["r1"]) == {"s1", "s2", "s3"}
    names = harness.events.names()
    assert names[0] == "run_started" and names[-1] == "run_finished"
    for node in ("s1", "s2", "s3"):
        per_node = harness.events.names(node)
        assert per_node.index("pre_node") < per_node.index("pre_checkpoint_save") < per_node.index("post_checkpoint_save") < per_node.index("post_node")


async def test_resume_restores_finished_nodes_without_calling_their_llm(harness):
    harness.fake.script(match="step 3", status=500)
    first = await harness.run(chain(4), {"task": "t"})
    assert first.status == "failed" and first.error["node"] == "s3"
    assert len(harness.fake.calls("step 1")) == 1
    harness.fake.reset()  # the model recovers
    second = await harness.run(chain(4), {"task": "t"})
    assert second.status == "succeeded", second.error
    assert harness.fake.calls("step 1") == [] and harness.fake.calls("step 2") == []
    assert len(harness.fake.calls("step 3")) == 1 and len(harness.fake.calls("step 4")) == 1
    assert "run_resumed" in harness.events.names()


async def test_llm_calls_inside_a_node_are_replayed_after_a_crash(harness):
    # First answer is malformed (call 1 is journaled), then the node is cut off mid-retry.
    harness.fake.script(match="step 1", replies=["not json", {"result": "fine"}], latency=0.0)
    engine = harness.engine(chain(1))
    # simulate a crash after the first call was journaled: run until the retry is in flight
    harness.fake.rules[0].latency = 0.0
    slow = harness.fake.script(match="That answer was invalid", hang=True)
    harness.fake.rules.insert(0, harness.fake.rules.pop())  # the hang rule wins for the retry
    task = asyncio.ensure_future(engine.run({"task": "t"}))
    while len(harness.fake.calls()) < 2:
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    journal = harness.checkpoints.saved["r1"]["s1"]["llm_calls"]
    assert len(journal) == 1 and journal[0]["response"]["content"] == "not json"
    harness.fake.rules.remove(slow)
    harness.fake.script(match="That answer was invalid", reply={"result": "fine"})
    before = len(harness.fake.calls())
    result = await harness.run(chain(1), {"task": "t"})
    assert result.status == "succeeded" and result.outputs == {"result": "fine"}
    assert len(harness.fake.calls()) - before == 1, "the journaled first call must be replayed, not repeated"


async def test_error_edge_runs_fallback_with_the_failed_nodes_inputs(harness):
    doc = {
        "inputs": {"q": {"type": "string"}}, "outputs": {"answer": {"type": "string"}},
        "nodes": [agent("main", ["q"], ["answer"], model="gpt-4o"), agent("backup", ["q"], ["answer"], model="gpt-4o-mini"),
                  agent("after", ["answer"], ["answer"], model="gpt-4o-mini", instructions="polish {{answer}}")],
        "edges": [edge("@inputs", "q", "main", "q"), edge("main", "", "backup", "", "error"),
                  edge("main", "answer", "after", "answer"), edge("after", "answer", "@outputs", "answer")],
    }
    harness.fake.script(model="gpt-4o", status=500)
    harness.fake.script(match="q: hello", model="gpt-4o-mini", reply={"answer": "from backup"})
    result = await harness.run(doc, {"q": "hello"})
    assert result.status == "succeeded", result.error
    assert result.nodes["main"]["status"] == "failed" and result.nodes["main"]["recovered_by"] == "backup"
    assert "polish from backup" in harness.fake.calls("polish")[0]["text"]
    assert "fallback" in harness.events.names("main")


async def test_node_timeout_fails_the_node(harness):
    harness.fake.script(match="step 1", hang=True)
    result = await harness.run(chain(1, timeout_s=0.3), {"task": "t"})
    assert result.status == "failed"
    assert result.nodes["s1"]["error"]["type"] == "timeout"


async def test_cancel_stops_in_flight_calls_quickly(harness):
    harness.fake.script(match="step 2", latency=30)
    engine = harness.engine(chain(3))
    task = asyncio.ensure_future(engine.run({"task": "t"}))
    while not harness.fake.calls("step 2"):
        await asyncio.sleep(0.02)
    started = time.perf_counter()
    engine.request_cancel()
    result = await task
    assert time.perf_counter() - started < 10  # generous: the answer would take 30 s
    assert harness.fake.calls("step 2", completed=True) == []
    assert result.status == "cancelled"
    assert result.nodes["s1"]["status"] == "succeeded" and result.nodes["s2"]["status"] == "cancelled"
    assert "s1" in harness.checkpoints.saved["r1"]


async def test_budget_interrupts_and_resume_with_more_budget_continues(harness):
    harness.fake.script(prompt_tokens=100_000, completion_tokens=0)  # gpt-4o-mini: $0.015 per call
    first = await harness.run(chain(3), {"task": "t"}, budget_usd=0.02)
    assert first.status == "interrupted" and first.error["type"] == "budget"
    assert first.nodes["s1"]["status"] == "succeeded"
    second = await harness.run(chain(3), {"task": "t"}, budget_usd=1.0)
    assert second.status == "succeeded"
    assert len(harness.fake.calls("step 1")) == 1


async def test_malformed_answers_are_retried_then_fail_with_raw_answer(harness):
    harness.fake.script(match="step 1", reply="definitely not json")
    result = await harness.run(chain(1, max_format_retries=2), {"task": "t"})
    assert result.status == "failed"
    assert len(harness.fake.calls("step 1")) == 3
    error = result.nodes["s1"]["error"]
    assert error["raw"] == "definitely not json" and "not valid JSON" in error["problem"]


async def test_wrong_output_type_is_malformed(harness):
    harness.fake.script(match="step 1", replies=[{"result": 42}, {"result": "ok now"}])
    result = await harness.run(chain(1), {"task": "t"})
    assert result.status == "succeeded" and result.outputs == {"result": "ok now"}


async def test_missing_run_input_fails_clearly(harness):
    result = await harness.run(chain(1), {})
    assert result.status == "failed" and result.error["path"] == "inputs.task"


async def test_hook_failures_are_recorded_and_do_not_crash(harness):
    seen = []

    async def good(ctx):
        seen.append((ctx.event, ctx.agent_id))
        return HookResult()

    async def bad(ctx):
        raise RuntimeError("boom")

    engine = harness.engine(chain(1))
    engine.hooks.register(HookEvent.POST_NODE, good)
    engine.hooks.register(HookEvent.POST_NODE, bad)
    result = await engine.run({"task": "t"})
    assert result.status == "succeeded"
    assert (HookEvent.POST_NODE, "s1") in seen
    post = [e for e in harness.events.events if e["event"] == "post_node"][0]
    assert "bad: RuntimeError: boom" in post["data"]["hook_errors"][0]


async def test_a_hook_past_its_deadline_is_stopped_and_recorded(harness):
    """A hook that hangs is cancelled at the manager's deadline; the run goes on, the event says why."""
    stopped = []

    async def slow(ctx):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.append(ctx.agent_id)
            raise

    engine = harness.engine(chain(1))
    engine.hooks.timeout_s = 0.05
    engine.hooks.register(HookEvent.POST_NODE, slow)
    result = await engine.run({"task": "t"})
    assert result.status == "succeeded" and stopped == ["s1"]
    post = [e for e in harness.events.events if e["event"] == "post_node"][0]
    assert post["data"]["hook_errors"] == ["slow: TimeoutError: "]


async def test_rate_limit_is_retried_by_the_engine(harness):
    harness.fake.script(match="step 1", replies=[429, {"result": "after 429"}])
    result = await harness.run(chain(1), {"task": "t"})  # (the SDK's own retries are off)
    assert result.status == "succeeded" and result.outputs == {"result": "after 429"}
    assert len(harness.fake.calls("step 1")) == 2
    assert [e["data"]["status"] for e in harness.events.events if e["event"] == "llm_retry"] == [429]


def node_ends(harness, node):
    return [e["data"] for e in harness.events.events if e["event"] == "post_node" and e["node_id"] == node]


async def test_nodes_in_flight_when_a_sibling_fails_end_with_a_cancelled_event(harness):
    doc = {"inputs": {"task": {"type": "string"}}, "outputs": {},
           "nodes": [agent("slow", ["task"], ["slow"]), agent("bad", ["task"], ["bad"])],
           "edges": [edge("@inputs", "task", "slow", "task"), edge("@inputs", "task", "bad", "task")]}
    harness.fake.script(match="- slow", latency=30)
    harness.fake.script(match="- bad", status=400)
    result = await harness.run(doc, {"task": "t"})
    assert result.status == "failed" and result.nodes["slow"]["status"] == "cancelled"
    (end,) = node_ends(harness, "slow")
    assert end["status"] == "cancelled" and "node bad failed" in end["error"]["message"]
    assert harness.checkpoints.saved["r1"]["slow"]["status"] == "cancelled"  # the event says what a reload shows
    names = harness.events.names()
    assert names.index("post_node") < names.index("run_finished") and names[-1] == "run_finished"


async def test_a_cancel_tells_the_viewer_about_every_node_in_flight(harness):
    harness.fake.script(match="step 2", latency=30)
    engine = harness.engine(chain(3))
    task = asyncio.ensure_future(engine.run({"task": "t"}))
    while not harness.fake.calls("step 2"):
        await asyncio.sleep(0.02)
    engine.request_cancel()
    result = await task
    assert result.status == "cancelled"
    assert [e["status"] for e in node_ends(harness, "s2")] == ["cancelled"]
    assert node_ends(harness, "s3") == []  # never started: stays pending, as a reload shows


async def test_the_node_that_meets_the_budget_reports_going_back_to_pending(harness):
    harness.fake.script(prompt_tokens=100_000, completion_tokens=0)  # gpt-4o-mini: $0.015 per call
    result = await harness.run(chain(3), {"task": "t"}, budget_usd=0.02)
    assert result.status == "interrupted"
    stopped = result.error["node"]
    (end,) = node_ends(harness, stopped)
    assert end["status"] == "pending" and end["error"]["type"] == "budget"


async def test_a_wide_fan_out_settles_together_and_shares_a_flush(harness):
    """Nodes that finish together are settled before anything starts after them: their
    checkpoints are all queued before the store is next told to flush."""
    log: list[str] = []
    store = harness.checkpoints
    original_queue, original_flush = store.queue_save, store.flush_soon

    def queue_save(run_id, node_id, state):
        log.append(f"save {node_id} {state['status']}")
        return original_queue(run_id, node_id, state)

    def flush_soon():
        log.append("flush")
        original_flush()

    store.queue_save, store.flush_soon = queue_save, flush_soon
    n = 30
    nodes = [agent(f"b{i}", ["task"], ["out"]) for i in range(n)] + [agent("after", [f"in{i}" for i in range(n)], ["done"])]
    edges = [edge("@inputs", "task", f"b{i}", "task") for i in range(n)] + [edge(f"b{i}", "out", "after", f"in{i}") for i in range(n)]
    doc = {"inputs": {"task": {"type": "string"}}, "outputs": {}, "nodes": nodes, "edges": edges}
    result = await harness.run(doc, {"task": "t"}, force_provider="simulated")  # every branch answers at once
    assert result.status == "succeeded", result.error
    checkpoints = [i for i, line in enumerate(log) if line.startswith("save b") and line.endswith("succeeded")]
    assert len(checkpoints) == n
    flushes = [i for i, line in enumerate(log) if line == "flush"]
    assert not any(checkpoints[0] < f < checkpoints[-1] for f in flushes), log


async def test_dry_run_uses_the_simulated_provider(harness):
    result = await harness.run(chain(2, model="gpt-4o"), {"task": "t"}, force_provider="simulated")
    assert result.status == "succeeded"
    assert harness.fake.calls() == []
    assert result.cost_usd > 0  # estimated from simulated token counts and gpt-4o prices
