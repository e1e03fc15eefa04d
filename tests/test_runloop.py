"""Runs executed by a worker's threads share the process's run loop (graphs/runner/runloop.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from graphs.runner import runloop


def test_runs_from_worker_threads_share_one_loop_and_overlap():
    """Run A waits for an asyncio.Event that run B sets: that finishes only if both coroutines
    are on the same loop at the same time (two threads, one loop)."""
    ready = threading.Event()
    state: dict = {}

    async def a():
        state["event"] = asyncio.Event()
        state["loop_a"] = asyncio.get_running_loop()
        ready.set()
        await asyncio.wait_for(state["event"].wait(), 5)
        return "a"

    async def b():
        state["loop_b"] = asyncio.get_running_loop()
        state["event"].set()
        return "b"

    results = {}
    thread_a = threading.Thread(target=lambda: results.setdefault("a", runloop.run(a())))
    thread_a.start()
    assert ready.wait(5)
    results["b"] = runloop.run(b())
    thread_a.join(5)
    assert results == {"a": "a", "b": "b"}
    assert state["loop_a"] is state["loop_b"]
    assert state["loop_a"] is not None and threading.current_thread() is threading.main_thread()


def test_errors_reach_the_calling_thread():
    async def fails():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        runloop.run(fails())


def test_calling_from_the_run_loop_itself_is_refused():
    async def nested():
        async def inner():
            return 1

        with pytest.raises(RuntimeError, match="run loop itself"):
            runloop.run(inner())
        return "refused"

    assert runloop.run(nested()) == "refused"
