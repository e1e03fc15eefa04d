"""Fencing, engine side: a store that says the claim on the run is lost (ClaimLost from
ensure_current or a save), or whose save fails, finishes the engine at once — in-flight calls
are aborted, no new LLM call starts, nothing more is written — and Engine.run raises the error."""

from __future__ import annotations

import asyncio

import pytest

from graphs.engine.hooks import HookEvent
from graphs.engine.ports import ClaimLost, MemoryCheckpointStore, MemoryEventSink
from tests.helpers import agent, chain, edge


class FencedStore(MemoryCheckpointStore):
    """In memory, with a claim that can be lost and saves that can fail (as the lead's store's)."""

    def __init__(self, events: MemoryEventSink) -> None:
        super().__init__()
        self.events = events
        self.lost = False
        self.fail_saves_of: str | None = None  # node id whose next save fails
        self.checks = 0
        self.told = False  # the store has raised ClaimLost once: the engine knows
        self.writes_after_loss: list[str] = []  # saves attempted after that
        self.events_at_loss: int | None = None
        self.lose_at_check: int | None = None  # the claim lapses just before this check (a freeze)

    def lose_claim(self) -> None:
        self.lost = True
        self.events_at_loss = len(self.events.events)

    async def ensure_current(self) -> None:
        self.checks += 1
        if self.checks == self.lose_at_check:
            self.lose_claim()
        if self.lost:
            self.told = True
            raise ClaimLost("another worker holds the run")

    def queue_save(self, run_id, node_id, state):
        if self.lost:  # refused, as a conditional write under a stale claim is
            if self.told:
                self.writes_after_loss.append(node_id)
            self.told = True
            raise ClaimLost("another worker holds the run")
        if node_id == self.fail_saves_of:
            self.fail_saves_of = None

            async def fails():
                await asyncio.sleep(0.01)
                raise RuntimeError("database went away")

            return asyncio.ensure_future(fails())
        return super().queue_save(run_id, node_id, state)


@pytest.fixture
def fenced(harness):
    harness.checkpoints = FencedStore(harness.events)
    return harness


async def test_every_llm_call_checks_the_claim_first_and_as_it_leaves(fenced):
    result = await fenced.run(chain(3), {"task": "t"})
    assert result.status == "succeeded"
    assert len(fenced.fake.calls()) == 3
    # before each attempt, in the transport as httpx hands it the request, and as its bytes leave
    # for the socket (llm/probes.py: head and body in one send)
    assert fenced.checkpoints.checks == 3 * 3


@pytest.mark.parametrize("where", [5, 6], ids=["in-the-transport", "at-the-write"])
async def test_a_claim_lost_between_the_check_and_the_send_sends_nothing(fenced, where):
    """A worker frozen after the check before s2's attempt and thawed under a lapsed claim: the
    transport's check (the second of s2's call), or the one as its first bytes leave (the third:
    a freeze inside the connection pool), refuses the request, the server never sees it."""
    store = fenced.checkpoints
    store.lose_at_check = where  # s1: checks 1-3; s2: 4 before the attempt, 5 in the transport, 6 at the send
    with pytest.raises(ClaimLost):
        await fenced.run(chain(3), {"task": "t"})
    assert len(fenced.fake.calls("step 1")) == 1
    assert fenced.fake.calls("step 2") == [], "the request left under a lost claim"
    assert store.writes_after_loss == [] and "run_finished" not in fenced.events.names()


async def test_a_lost_claim_starts_no_new_call_writes_nothing_and_is_raised(fenced):
    store = fenced.checkpoints

    async def lose_after_step_1(ctx):
        store.lose_claim()

    engine = fenced.engine(chain(3))
    engine.hooks.register("post_node", lose_after_step_1)  # (hooks run before the event is stored)
    with pytest.raises(ClaimLost):
        await engine.run({"task": "t"})
    assert len(fenced.fake.calls("step 1")) == 1 and fenced.fake.calls("step 2") == []
    names = fenced.events.names()
    assert "run_finished" not in names and "cancelled" not in names
    # the engine learns of the loss at s2's check before its call; from then on nothing is written
    tail = [(e["event"], e["node_id"]) for e in fenced.events.events[store.events_at_loss:]]
    assert tail == [("post_node", "s1"), ("pre_node", "s2"), ("pre_agent_loop", "s2"), ("pre_llm_call", "s2")]
    assert store.writes_after_loss == []


async def test_a_lost_claim_aborts_calls_in_flight_at_once(fenced):
    store = fenced.checkpoints
    fenced.fake.script(match="- slow", latency=30)
    doc = {"inputs": {"task": {"type": "string"}}, "outputs": {},
           "nodes": [agent("slow", ["task"], ["slow"]), agent("fast", ["task"], ["fast"]), agent("next", ["fast"], ["done"])],
           "edges": [edge("@inputs", "task", "slow", "task"), edge("@inputs", "task", "fast", "task"),
                     edge("fast", "fast", "next", "fast")]}

    async def lose_when_fast_ends(ctx):
        if ctx.agent_id == "fast":
            store.lose_claim()

    engine = fenced.engine(doc)
    engine.hooks.register("post_node", lose_when_fast_ends)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ClaimLost):
        await engine.run({"task": "t"})
    assert loop.time() - started < 10  # generous: the slow answer takes 30 s
    assert fenced.fake.calls("- done") == []  # "next" never asked its model
    (slow,) = fenced.fake.calls("- slow")
    assert not slow["completed"]
    assert store.writes_after_loss == [] and "run_finished" not in fenced.events.names()
    assert [e for e in fenced.events.events if e["event"] == "post_node" and e["data"]["status"] == "cancelled"] == []


async def test_a_failed_save_is_kept_and_raised_before_the_next_call(fenced):
    store = fenced.checkpoints
    store.fail_saves_of = "s1"  # s1's journal save (its answer) fails in the background
    with pytest.raises(RuntimeError, match="database went away"):
        await fenced.run(chain(3), {"task": "t"})
    assert len(fenced.fake.calls("step 1")) == 1
    assert fenced.fake.calls("step 2") == [], "no LLM call may start on an unsaved answer"
    assert "run_finished" not in fenced.events.names()


async def test_a_lost_claim_inside_a_nested_run_finishes_the_whole_run(fenced):
    store = fenced.checkpoints
    body = chain(2)
    body["inputs"] = {"task": {"type": "any"}}
    doc = {"inputs": {"items": {"type": "list"}}, "outputs": {},
           "nodes": [{"id": "each", "kind": "for_each", "config": {"body": body, "item_input": "task", "concurrency": 2}}],
           "edges": [edge("@inputs", "items", "each", "items")]}
    fenced.fake.script(match="step 2", latency=30)

    async def lose_on_first_item(ctx):
        if ctx.agent_id == "s1" and not store.lost:  # (hooks see a nested run's own node ids)
            store.lose_claim()

    engine = fenced.engine(doc)
    engine.hooks.register("post_node", lose_on_first_item)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ClaimLost):
        await engine.run({"items": ["a", "b"]})
    assert loop.time() - started < 10  # generous: a step 2 answer takes 30 s
    assert all(not c["completed"] for c in fenced.fake.calls("step 2"))
    assert store.writes_after_loss == [] and "run_finished" not in fenced.events.names()


async def test_an_mcp_call_under_a_lost_claim_never_reaches_the_server(fenced, mcp_test_server):
    """The MCP session's requests leave through the same fenced transport: a claim that lapses
    just before the tools/call request is sent (a freeze after the check before the tool's attempt)
    stops the request, and the run ends with ClaimLost (the engine learns it from the check itself,
    whatever the SDK makes of the error), not with a tool failure read by the model."""
    from graphs.engine.tools import McpEndpoint
    from tests.engine.test_tools import agent_graph
    from tests.fakellm import ToolCalls

    sending: list[str] = []

    class Spy(FencedStore):
        async def ensure_current(self) -> None:
            body = _request_being_sent()
            sending.append(body)
            if '"tools/call"' in body and not self.lost:
                self.lose_claim()
            await super().ensure_current()

    spy = Spy(fenced.events)
    fenced.checkpoints = spy
    mcp_test_server.calls.clear()
    fenced.fake.script("look it up", replies=[ToolCalls(("search", {"query": "kaizen"})), {"answer": "never"}])

    async def resolve(name):
        return McpEndpoint(name, mcp_test_server.url)

    with pytest.raises(ClaimLost):
        await fenced.run(agent_graph([{"type": "mcp", "server": "docs", "tools": ["search"]}]), {"task": "look it up"},
                         tools_allow_private=True, mcp_resolver=resolve)
    assert any('"tools/list"' in b for b in sending), "the MCP session's requests were not fenced"
    assert mcp_test_server.calls == [], "the tool call reached the server under a lost claim"
    assert len(fenced.fake.calls("look it up")) == 1, "the model was asked again after the loss"
    assert fenced.events.events[spy.events_at_loss:] == [], "events after the loss"
    assert spy.writes_after_loss == [] and "run_finished" not in fenced.events.names()


def _request_being_sent() -> str:
    """The body of the request a FencedTransport is sending right now ('' outside one)."""
    import inspect

    for frame in inspect.stack():
        request = frame.frame.f_locals.get("request") if frame.function == "handle_async_request" else None
        if request is not None and hasattr(request, "content"):  # (httpx's request; httpcore's has a stream)
            return request.content.decode(errors="replace")
    return ""


async def test_every_saved_state_is_in_the_store_before_the_runs_end_is_emitted(harness):
    """The worker's store writes the run's end with its last event, so a node's last state must
    reach the store first. A node cancelled in flight is saved in the background (save_soon): its
    save is in the store before ``run_finished`` is emitted, even when nothing on the way (no hook)
    gives the save's task a turn. (It once rode on a turn each hook call took, by chance.)"""
    order = []

    class Saves(MemoryCheckpointStore):
        def queue_save(self, run_id, node_id, state):
            order.append(("save", node_id, state["status"]))
            return super().queue_save(run_id, node_id, state)

    class Events(MemoryEventSink):
        async def emit(self, run_id, event, node_id, data):
            order.append(("event", event, node_id))
            await super().emit(run_id, event, node_id, data)

    harness.checkpoints, harness.events = Saves(), Events()
    harness.fake.script(match="step 2", latency=30)
    engine = harness.engine(chain(3))

    async def cancel_during_s2s_call(ctx):
        if ctx.agent_id == "s2":
            asyncio.get_running_loop().call_later(0.2, engine.request_cancel)

    engine.hooks.register(HookEvent.PRE_LLM_CALL, cancel_during_s2s_call)
    result = await engine.run({"task": "t"})
    assert result.status == "cancelled"
    assert order.index(("save", "s2", "cancelled")) < order.index(("event", "run_finished", None)), order
