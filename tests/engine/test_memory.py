"""Memory tiers: promotion after N accesses within a window, demotion after inactivity,
max_turns, and an agent with a memory attachment sharing a session across runs."""

from __future__ import annotations

from graphs.engine.memory import HotTier, InMemoryColdStore, InMemoryWarmStore, TieredMemory, TierPolicy
from graphs.engine.validate import validate_graph
from tests.helpers import edge


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tiers(clock=None, **policy):
    return TieredMemory(HotTier(capacity=2), InMemoryWarmStore(), InMemoryColdStore(),
                        TierPolicy(**{"hot_promotion_threshold": 5, "warm_promotion_threshold": 2, **policy}),
                        clock=clock or Clock())


async def test_promotion_cold_then_warm_then_hot():
    memory = tiers()
    await memory.append(1, "customer_123", [{"user": "hi", "assistant": "hello"}])
    views = [await memory.load(1, "customer_123") for _ in range(6)]
    assert [v.served_from for v in views] == ["cold", "cold", "warm", "warm", "warm", "hot"]
    assert [v.tier for v in views] == ["cold", "warm", "warm", "warm", "hot", "hot"]
    assert views[-1].access_count == 6 and views[-1].turns == [{"user": "hi", "assistant": "hello"}]
    assert memory.cold.data[(1, "customer_123")]["tier"] == "hot"


async def test_accesses_outside_the_window_do_not_promote():
    clock = Clock()
    memory = tiers(clock, access_window_seconds=60)
    for _ in range(4):
        view = await memory.load(1, "s")
        clock.now += 120
    assert view.tier == "cold" and view.access_count == 1


async def test_demotion_after_inactivity():
    clock = Clock()
    memory = tiers(clock, demote_after_seconds=100, hot_promotion_threshold=3)
    for _ in range(3):
        await memory.load(1, "s")
    assert "1:s" in memory.hot
    clock.now += 50
    assert await memory.optimize() == []
    clock.now += 100
    assert await memory.optimize() == [(1, "s", "hot->warm")]
    assert "1:s" not in memory.hot and "1:s" in memory.warm.data
    clock.now += 200
    assert await memory.optimize() == [(1, "s", "warm->cold")]
    assert "1:s" not in memory.warm.data and memory.cold.data[(1, "s")]["tier"] == "cold"


async def test_demotion_applies_each_sessions_own_policy():
    clock = Clock()
    memory = tiers(clock, warm_promotion_threshold=2)
    patient, hasty = TierPolicy(warm_promotion_threshold=2, demote_after_seconds=1000), TierPolicy(warm_promotion_threshold=2, demote_after_seconds=100)
    for _ in range(2):
        await memory.load(1, "patient", patient), await memory.load(2, "hasty", hasty)
    clock.now += 500
    assert await memory.load(3, "other") is not None  # loads no longer demote anything
    assert memory.cold.data[(2, "hasty")]["tier"] == "warm"
    assert await memory.optimize() == [(2, "hasty", "warm->cold")]  # not the patient owner's session
    assert memory.cold.data[(1, "patient")]["tier"] == "warm" and "1:patient" in memory.warm.data
    assert "2:hasty" not in memory.warm.data


async def test_a_stale_hot_copy_is_never_served_and_appends_never_overwrite():
    """Two processes' hot tiers over one store: each sees the other's appends at once."""
    cold, warm = InMemoryColdStore(), InMemoryWarmStore()
    policy = TierPolicy(hot_promotion_threshold=1, warm_promotion_threshold=1)
    a, b = (TieredMemory(HotTier(), warm, cold, policy) for _ in range(2))
    for memory in (a, b):
        await memory.load(1, "s")
    await a.append(1, "s", [{"user": "from a"}])
    assert [(v.served_from, v.turns) for v in [await b.load(1, "s")]] == [("warm", [{"user": "from a"}])]
    await b.append(1, "s", [{"user": "from b"}])
    view = await a.load(1, "s")
    assert view.served_from != "hot" and view.turns == [{"user": "from a"}, {"user": "from b"}]
    assert (await a.load(1, "s")).served_from == "hot"  # current again: served from the hot copy


async def test_hot_hits_are_counted_in_batches():
    memory = tiers(hot_promotion_threshold=1)
    await memory.load(1, "s")
    views = [await memory.load(1, "s") for _ in range(3)]
    assert [v.served_from for v in views] == ["hot"] * 3 and views[-1].access_count == 4
    assert memory.cold.data[(1, "s")]["access_count"] == 1  # nothing written on a hot hit
    await memory.optimize()
    assert memory.cold.data[(1, "s")]["access_count"] == 4


async def test_max_turns_keeps_the_latest():
    memory = tiers()
    for i in range(5):
        await memory.append(1, "s", [{"user": f"q{i}", "assistant": f"a{i}"}], max_turns=3)
    assert [t["user"] for t in (await memory.load(1, "s")).turns] == ["q2", "q3", "q4"]


async def test_hot_tier_is_an_lru():
    hot = HotTier(capacity=2)
    hot.put("a", {}), hot.put("b", {}), hot.get("a"), hot.put("c", {})
    assert "a" in hot and "c" in hot and "b" not in hot


def memory_agent(max_turns=100):
    return {"inputs": {"question": {"type": "string"}, "session": {"type": "string"}},
            "outputs": {"answer": {"type": "string"}},
            "nodes": [{"id": "chat", "kind": "agent", "config": {
                "signature": {"inputs": [{"name": "question"}], "outputs": [{"name": "answer"}]},
                "memory": {"max_turns": max_turns, "warm_promotion_threshold": 2}}}],
            "edges": [edge("@inputs", "question", "chat", "question"), edge("@inputs", "session", "chat", "session_id"),
                      edge("chat", "answer", "@outputs", "answer")]}


async def test_agent_memory_is_shared_across_runs(harness):
    memory = tiers()
    harness.fake.script(match="my name is Ada", reply={"answer": "Nice to meet you, Ada"})
    await harness.run(memory_agent(), {"question": "my name is Ada", "session": "s1"}, memory=memory, memory_owner=7)
    await harness.run(memory_agent(), {"question": "what is my name?", "session": "s1"}, run_id="r2",
                      memory=memory, memory_owner=7)
    second = harness.fake.calls("what is my name?")[0]
    roles = [m["role"] for m in second["body"]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert "Nice to meet you, Ada" in second["text"]
    loads = [e["data"] for e in harness.events.events if e["event"] == "memory" and e["data"]["action"] == "load"]
    assert [(x["served_from"], x["tier"]) for x in loads] == [("new", "cold"), ("cold", "warm")]
    assert len(memory.cold.data[(7, "s1")]["turns"]) == 2


async def test_other_sessions_and_owners_do_not_see_the_memory(harness):
    memory = tiers()
    await harness.run(memory_agent(), {"question": "secret 42", "session": "s1"}, memory=memory, memory_owner=7)
    await harness.run(memory_agent(), {"question": "other", "session": "s1"}, run_id="r2", memory=memory, memory_owner=8)
    assert "secret 42" not in harness.fake.calls("other")[0]["text"]


def test_memory_config_is_validated():
    issues = validate_graph(memory_agent(max_turns=0))
    assert any(i.node == "chat" and i.path.endswith("memory.max_turns") for i in issues), issues


async def test_without_a_memory_given_runs_share_nothing_through_the_process(harness):
    """An engine given no memory gets one of its own (default_memory() holds no module-level
    store): a second run in the same process does not see the first run's session."""
    await harness.run(memory_agent(), {"question": "my name is Ada", "session": "s1"}, memory_owner=7)
    await harness.run(memory_agent(), {"question": "what is my name?", "session": "s1"}, run_id="r2", memory_owner=7)
    second = harness.fake.calls("what is my name?")[0]
    assert [m["role"] for m in second["body"]["messages"]] == ["system", "user"] and "Ada" not in second["text"]
    loads = [e["data"] for e in harness.events.events if e["event"] == "memory" and e["data"]["action"] == "load"]
    assert [x["served_from"] for x in loads] == ["new", "new"]
