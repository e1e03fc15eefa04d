"""The engine's saves in flight (graphs/engine/runtime/saves.py): a wait before an LLM call covers
the saves issued before it, not those issued while it waits; a failed save wakes every waiter at
once; the run's end waits for everything, including saves issued meanwhile; and a node state's
snapshot is a copy the node's later changes do not reach."""

from __future__ import annotations

import asyncio

from graphs.engine.runtime.saves import PendingSaves
from graphs.engine.state import NodeState


def _saves() -> tuple[PendingSaves, list[BaseException]]:
    errors: list[BaseException] = []
    return PendingSaves(errors.append), errors


async def _settles(waiter: asyncio.Future) -> bool:
    for _ in range(5):
        await asyncio.sleep(0)
    return waiter.done()


def test_a_wait_covers_the_saves_issued_before_it_and_not_those_after():
    async def scenario():
        loop = asyncio.get_running_loop()
        saves, errors = _saves()
        first, second = loop.create_future(), loop.create_future()
        saves.add(first)
        saves.add(second)
        waiter = asyncio.ensure_future(saves.issued_so_far())
        await asyncio.sleep(0)  # (the waiter starts waiting)
        later = loop.create_future()
        saves.add(later)  # issued while the waiter waits
        assert not await _settles(waiter)
        second.set_result(None)
        assert not await _settles(waiter), "the first save is still pending"
        first.set_result(None)
        assert await _settles(waiter), "both saves issued before the wait settled; the later one does not count"
        assert saves  # (the later one is still pending)
        whole = asyncio.ensure_future(saves.all())
        assert not await _settles(whole)
        later.set_result(None)
        assert await _settles(whole)
        assert not saves and errors == []

    asyncio.run(scenario())


def test_a_failed_save_wakes_every_waiter_and_is_reported_once():
    async def scenario():
        loop = asyncio.get_running_loop()
        saves, errors = _saves()
        slow, failing = loop.create_future(), loop.create_future()
        saves.add(slow)
        saves.add(failing)
        waiters = [asyncio.ensure_future(saves.issued_so_far()) for _ in range(3)]
        failing.set_exception(RuntimeError("database gone"))
        for waiter in waiters:
            assert await _settles(waiter), "a waiter must not wait for the slow save after a failure"
        assert [str(e) for e in errors] == ["database gone"]
        await saves.issued_so_far()  # (returns at once from now on; the engine raises the error)
        await saves.all()
        slow.cancel()

    asyncio.run(scenario())


def test_a_wait_with_nothing_pending_returns_at_once_and_a_cancelled_save_counts_as_settled():
    async def scenario():
        loop = asyncio.get_running_loop()
        saves, errors = _saves()
        await saves.issued_so_far()
        cancelled = loop.create_future()
        saves.add(cancelled)
        waiter = asyncio.ensure_future(saves.issued_so_far())
        cancelled.cancel()
        assert await _settles(waiter)
        assert errors == []

    asyncio.run(scenario())


def test_a_node_states_snapshot_is_not_changed_by_the_node_afterwards():
    state = NodeState(status="running", inputs={"task": {"nested": ["a"]}},
                      llm_calls=[{"key": "#0", "response": {"text": "x", "prompt_tokens": 3, "completion_tokens": 1}}])
    snapshot = state.to_dict()
    state.inputs["task"]["nested"].append("b")
    state.llm_calls[0]["response"]["text"] = "changed"
    state.llm_calls.append({"key": "#1", "response": {}})
    state.status = "succeeded"
    assert snapshot["inputs"] == {"task": {"nested": ["a"]}}
    assert snapshot["llm_calls"] == [{"key": "#0", "response": {"text": "x", "prompt_tokens": 3, "completion_tokens": 1}}]
    assert snapshot["status"] == "running"
    assert (snapshot["prompt_tokens"], snapshot["completion_tokens"]) == (3, 1)
    assert NodeState.from_dict(snapshot).inputs == {"task": {"nested": ["a"]}}
