"""Scheduling, shared by the engine (a graph's nodes) and for_each (a list's items): which keys
may start (a dependency counter per key, so a completion costs its successors, not a scan of the
graph), in what order and how many at once (a ready queue), what a node receives (input
gathering), a completion queue of running tasks, and the loop over them (``drive``).

``DependencyCounter``, ``ReadyQueue``, ``resolved``, ``settled`` and ``gather_inputs`` are plain
functions and classes over plain data: they are tested without an event loop. ``Completions``
and ``drive`` are the asyncio pieces: finished tasks queue up by key, and ``drive`` takes them in
batches (a wide fan-out that finishes at once is settled in one go, so its checkpoints and events
share the store's next commit).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar

K = TypeVar("K")


class DependencyCounter(Generic[K]):
    """Counts, per key, its upstream keys that have not settled yet, and hands each eligible key
    out once: when that count reaches zero, or when ``quorum[key]`` upstream keys have *produced*
    (join's first-k). ``settle`` is called once per key; it returns the keys it made ready."""

    def __init__(self, upstream: Mapping[K, Iterable[K]], *, eligible: Iterable[K], settled: Iterable[K] = (),
                 produced: Iterable[K] = (), quorum: Mapping[K, int] | None = None) -> None:
        self._settled: set[K] = set(settled)
        produced_now = set(produced)
        self._quorum = {k: n for k, n in (quorum or {}).items() if n}
        self._dependents: dict[K, list[K]] = {}
        self._waiting: dict[K, int] = {}
        self._produced: dict[K, int] = {}
        for key, sources in upstream.items():
            distinct = set(sources)
            for source in distinct:
                self._dependents.setdefault(source, []).append(key)
            self._waiting[key] = sum(1 for s in distinct if s not in self._settled)
            self._produced[key] = sum(1 for s in distinct if s in produced_now)
        self._eligible = set(eligible)
        self._released: set[K] = set()

    def _ready(self, key: K) -> bool:
        if key not in self._eligible or key in self._released:
            return False
        quorum = self._quorum.get(key)
        return self._waiting.get(key, 0) == 0 or (quorum is not None and self._produced.get(key, 0) >= quorum)

    def initial(self) -> list[K]:
        """Keys that may start now (in the order ``eligible`` gave them)."""
        ready = [k for k in self._eligible_order() if self._ready(k)]
        self._released.update(ready)
        return ready

    def _eligible_order(self) -> list[K]:
        order = [k for k in self._waiting if k in self._eligible]
        seen = set(order)
        return order + [k for k in self._eligible if k not in seen]

    def settle(self, key: K, produced: bool) -> list[K]:
        """``key`` settled (it produced outputs, or was skipped when ``produced`` is False)."""
        if key in self._settled:
            return []
        self._settled.add(key)
        ready: list[K] = []
        for dependent in self._dependents.get(key, ()):
            self._waiting[dependent] -= 1
            if produced:
                self._produced[dependent] += 1
            if self._ready(dependent):
                self._released.add(dependent)
                ready.append(dependent)
        return ready

    def is_settled(self, key: K) -> bool:
        return key in self._settled

    def unreleased(self) -> list[K]:
        """Eligible keys never handed out (after the run: they wait on something that never settled)."""
        return [k for k in self._eligible_order() if k not in self._released]


class ReadyQueue(Generic[K]):
    """Keys released and not started yet, first in, first out, with at most ``limit`` of them
    running at once (None: no limit). A key that settles without running (a skipped node) never
    holds a slot."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self._keys: deque[K] = deque()

    def add(self, keys: Iterable[K]) -> None:
        self._keys.extend(keys)

    def take(self, running: int) -> K | None:
        """The next key to start while ``running`` keys are in flight; None when there is none
        or no slot is free."""
        if not self._keys or (self.limit is not None and running >= self.limit):
            return None
        return self._keys.popleft()

    def __len__(self) -> int:
        return len(self._keys)


class StateLike(Protocol):
    status: str
    outputs: dict[str, Any]
    recovered_by: str | None


class EdgeLike(Protocol):
    source: str
    source_port: str
    target_port: str


class PortLike(Protocol):
    required: bool


def resolved(states: Mapping[str, StateLike], nid: str) -> dict[str, Any] | None:
    """Outputs a node stands for: its own, or those of the error handler that recovered it."""
    seen = 0
    while seen <= len(states):
        state = states[nid]
        if state.status == "succeeded":
            return state.outputs
        if state.status == "failed" and state.recovered_by:
            nid, seen = state.recovered_by, seen + 1
            continue
        return None
    return None  # (a recovery cycle cannot be built by the engine; never loop on one)


def settled(states: Mapping[str, StateLike], nid: str) -> bool:
    """Its dependents need not wait for it any more: it was skipped, or it stands for outputs."""
    return states[nid].status == "skipped" or resolved(states, nid) is not None


def source_value(states: Mapping[str, StateLike], edge: EdgeLike, inputs: Mapping[str, Any],
                 inputs_node: str) -> tuple[bool, Any]:
    """(present, value) an edge carries: a run input, or its source node's (resolved) output."""
    if edge.source == inputs_node:
        return edge.source_port in inputs, inputs.get(edge.source_port)
    if states[edge.source].status == "skipped":
        return False, None
    outputs = resolved(states, edge.source)
    return outputs is not None and edge.source_port in outputs, (outputs or {}).get(edge.source_port)


def gather_inputs(edges_in: Iterable[EdgeLike], ports: Mapping[str, PortLike],
                  value_of: Callable[[EdgeLike], tuple[bool, Any]]) -> dict[str, Any] | None:
    """A node's inputs from its incoming data edges, or None when a required one is missing
    (it comes from a skipped branch, or a first-k join started without it)."""
    values: dict[str, Any] = {}
    for edge in edges_in:
        present, value = value_of(edge)
        if present:
            values[edge.target_port] = value
        elif ports[edge.target_port].required:
            return None
    return values


class Completions(Generic[K]):
    """Running tasks by key, and the keys whose task finished, in the order they finished.

    One queue instead of ``asyncio.wait`` over every task after each completion: a completion
    costs O(1), whatever the number of tasks in flight."""

    def __init__(self) -> None:
        self.tasks: dict[K, asyncio.Task[Any]] = {}
        self._finished: deque[K] = deque()
        self._wake = asyncio.Event()

    def start(self, key: K, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self.tasks[key] = task
        task.add_done_callback(lambda _t: self._done(key))
        return task

    def _done(self, key: K) -> None:
        self._finished.append(key)
        self._wake.set()

    def wake(self) -> None:
        """Return from ``next_batch`` now (a cancel or a stop), even with nothing finished."""
        self._wake.set()

    async def next_batch(self) -> list[tuple[K, asyncio.Task[Any]]]:
        """Every task finished since the last call (waits for one); they stay in ``tasks``
        until the caller ``pop``s them, so whatever is not settled can still be drained."""
        if not self._finished:
            self._wake.clear()
            await self._wake.wait()
        batch = []
        while self._finished:
            key = self._finished.popleft()
            task = self.tasks.get(key)
            if task is not None and task.done():
                batch.append((key, task))
        return batch

    def pop(self, key: K) -> None:
        self.tasks.pop(key, None)

    def cancel_all(self) -> None:
        for task in self.tasks.values():
            task.cancel()

    async def wait_all(self) -> None:
        """Wait until every task has ended (after ``cancel_all``: their HTTP requests closed)."""
        if self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)


def _never() -> bool:
    return False


async def drive(running: Completions[K], ready: Iterable[K], *,
                launch: Callable[[K], Awaitable[list[K]]],
                settle: Callable[[K, asyncio.Task[Any]], Awaitable[list[K]]],
                stopped: Callable[[], bool] = _never,
                after_batch: Callable[[], Awaitable[None]] | None = None,
                limit: int | None = None) -> None:
    """The run loop of the engine (over nodes) and of for_each (over items).

    Launch the ``ready`` keys (at most ``limit`` running at once), then, until nothing runs or
    ``stopped()``: take every task that finished as one batch, settle each of them before
    anything new starts (their saves and events share a commit), call ``after_batch``, and
    launch what they released. ``launch(key)`` starts the key's task on ``running`` and returns
    [], or settles it at once (a skipped node) and returns the keys that made ready;
    ``settle(key, task)`` records a finished task and returns the keys it released. An error
    from either ends the loop: the caller drains ``running``. Keys still queued when it returns
    wait on something that never settled (the caller tells a cycle from a stop)."""
    queue: ReadyQueue[K] = ReadyQueue(limit)
    queue.add(ready)
    await _launch_ready(queue, running, launch)
    while not stopped() and running.tasks:
        batch = await running.next_batch()
        released: list[K] = []
        for key, task in batch:
            if stopped():
                return
            running.pop(key)
            released += await settle(key, task)
        if stopped():
            return
        if after_batch is not None:
            await after_batch()
        queue.add(released)
        await _launch_ready(queue, running, launch)


async def _launch_ready(queue: ReadyQueue[K], running: Completions[K],
                        launch: Callable[[K], Awaitable[list[K]]]) -> None:
    while (key := queue.take(len(running.tasks))) is not None:
        queue.add(await launch(key))
