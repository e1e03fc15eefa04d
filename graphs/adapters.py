"""Django/Channels implementations of the engine's ports for one run.

``RunRecorder`` is the run's single writer: events and checkpoints are queued and handed, in
order, to the process's group-commit writer (graphs/writer.py). A checkpoint save returns only
once its batch is committed; events are published to the run's channel group after their batch
commits (stored first, streamed second).

A batch waits up to LINGER_S for company unless the engine says someone is waiting for it
(``flush_soon``: an LLM call about to be made, a save awaited, the run's end). In a chain that is
one commit per node: the node's answer, its checkpoint and the events around them, written when
the next node is about to call the model.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection
from django.db.models import Max

from .engine.runtime.state import NodeState as EngineNodeState
from .events import batch_message, run_group
from .models import NodeState, RunEvent
from .writer import WRITER

log = logging.getLogger(__name__)
PUBLISH_BATCH = 100
LINGER_S = 0.003  # how long a batch waits for company before it is written, unless hurried


class RunRecorder:
    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"run-{run_id}-db")
        self._events: list[RunEvent] = []
        self._states: dict[str, dict[str, Any]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()
        self._to_publish: list[list[RunEvent]] = []
        self._publisher: asyncio.Task[None] | None = None
        self._seq: int | None = None
        self._layer = get_channel_layer()

    async def db(self, fn, *args):
        """Run a sync ORM call on this recorder's thread (one connection, in order)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- CheckpointStore ------------------------------------------------------------------
    async def load(self, run_id: str) -> dict[str, dict[str, Any]]:
        def read() -> dict[str, dict[str, Any]]:
            self._seq = RunEvent.objects.filter(run_id=self.run_id).aggregate(m=Max("seq"))["m"] or 0
            return {ns.node_id: ns.data for ns in NodeState.objects.filter(run_id=self.run_id)}

        return await self.db(read)

    async def save(self, run_id: str, node_id: str, state: dict[str, Any]) -> None:
        self._states[node_id] = state
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._kick()
        await waiter

    def flush_soon(self) -> None:
        self._hurry.set()

    # -- EventSink ------------------------------------------------------------------------
    async def emit(self, run_id: str, event: str, node_id: str | None, data: dict[str, Any]) -> None:
        assert self._seq is not None, "load() first: it reads where the sequence stands"
        self._seq += 1
        self._events.append(RunEvent(run_id=self.run_id, seq=self._seq, event=event, node_id=node_id or "",
                                     created_at=datetime.now(UTC), data=_jsonable(data)))
        self._kick()

    # -- writer ---------------------------------------------------------------------------
    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self._events or self._states:
            if not self._hurry.is_set():
                try:
                    await asyncio.wait_for(self._hurry.wait(), LINGER_S)
                except TimeoutError:
                    pass
            self._hurry.clear()
            events, self._events = self._events, []
            states, self._states = self._states, {}
            waiters, self._waiters = self._waiters, []
            try:
                await WRITER.submit(self.run_id, events, states)
            except BaseException as exc:
                for w in waiters:
                    if not w.done():
                        w.set_exception(exc)
                raise
            for w in waiters:
                if not w.done():
                    w.set_result(None)
            if events:  # published in order by its own task, off the checkpoint path
                self._to_publish.append(events)
                if self._publisher is None or self._publisher.done():
                    self._publisher = asyncio.ensure_future(self._publish_loop())

    async def _publish_loop(self) -> None:
        while self._to_publish:
            await self._publish(self._to_publish.pop(0))

    async def _publish(self, events: list[RunEvent]) -> None:
        if self._layer is None or not events:
            return
        try:
            for start in range(0, len(events), PUBLISH_BATCH):
                await self._layer.group_send(run_group(self.run_id), batch_message(events[start:start + PUBLISH_BATCH]))
        except Exception:  # the stream is best effort: the database has every event
            log.warning("publishing events %s.. of run %s failed", events[0].seq, self.run_id, exc_info=True)

    @property
    def last_seq(self) -> int:
        return self._seq or 0

    async def flush(self) -> None:
        """Wait until everything emitted or saved so far is written and published."""
        self._hurry.set()
        while (self._flusher is not None and not self._flusher.done()) or (
            self._publisher is not None and not self._publisher.done()
        ):
            if self._flusher is not None and not self._flusher.done():
                await self._flusher
            if self._publisher is not None and not self._publisher.done():
                await self._publisher

    async def close(self) -> None:
        await self.flush()
        await self.db(lambda: connection.close())  # resolved on the recorder thread
        self._executor.shutdown(wait=False)


def _jsonable(data: Any) -> Any:
    """A JSONField-safe copy: unknown objects become strings, NaN/Infinity become null."""
    text = json.dumps(data, default=str)
    if "NaN" in text or "Infinity" in text:
        text = json.dumps(json.loads(text, parse_constant=lambda _c: None))
    return json.loads(text)


def node_state_summary(data: dict[str, Any]) -> dict[str, Any]:
    state = EngineNodeState.from_dict(data)
    prompt, completion = state.tokens
    return {"status": state.status, "attempts": state.attempts, "duration_ms": state.duration_ms,
            "cost_usd": state.cost_usd, "prompt_tokens": prompt, "completion_tokens": completion,
            "error": state.error, "outputs": state.outputs, "recovered_by": state.recovered_by,
            "llm_calls": len(state.llm_calls)}

