"""Django/Channels implementations of the engine's ports for one run.

``RunRecorder`` is the run's single writer: events and checkpoints are queued and handed, in
order, to the process's group-commit writer (graphs/runner/writer.py). A checkpoint save returns only
once its batch is committed; events are published to the run's channel group after their batch
commits (stored first, streamed second).

A batch waits up to LINGER_S for company unless the engine says someone is waiting for it
(``flush_soon``: an LLM call about to be made, a save awaited, the run's end). In a chain that is
one commit per node: the node's answer, its checkpoint and the events around them, written when
the next node is about to call the model.

Fencing: the recorder writes under the epoch its run was claimed with. Once a write is fenced
out, or a heartbeat finds the epoch moved on, the recorder is lost: every later emit, save or
``ensure_current`` raises ClaimLost and nothing more is written for the run from here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from kaizen_web.dbthreads import db

from ..engine.ports import ClaimLost
from ..events import END_EVENTS, run_messages
from ..models import NodeState, Run, RunEvent
from .publish import publisher_for
from .writer import WRITER, PendingEvent, json_text

log = logging.getLogger(__name__)
LINGER_S = 0.003  # how long a batch waits for company before it is written, unless hurried


class HandedOff(ClaimLost):
    """The worker is shutting down and is giving the run back: it writes nothing more for it
    (but the ``run_handed_off`` event and the release of its lease)."""


class RunRecorder:
    def __init__(self, run_id: int, epoch: int | None = None,
                 start: tuple[int, dict[str, dict[str, Any]]] | None = None) -> None:
        self.run_id = run_id
        self.epoch = epoch  # the claim this recorder writes under (read at load() when not given)
        self._start = start  # (sequence, node states) known from the claim: load() reads nothing
        self._lost: BaseException | None = None
        self._valid_until = 0.0  # monotonic time until which the claim is known to be current
        self._committed_seq = 0
        self._final: dict[str, Any] | None = None  # the run row's final fields, once the run ends
        self.final_with_last_event = False  # the run row's final fields come with run_finished / run_waiting (the driver's)
        self._final_queued = False  # they did: queued with the run's last events (finish() only waits)
        self._paused = False  # shutting down: no new LLM call starts (ensure_current waits)
        self.paused_waiters = 0
        self._events: list[PendingEvent] = []
        self._states: dict[str, dict[str, Any]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()
        self._to_publish: list[list[PendingEvent]] = []
        self._publisher: asyncio.Task[None] | None = None
        self._seq: int | None = None
        self._layer = get_channel_layer()
        self._pipelined = publisher_for(self._layer)  # distributed: many runs' batches per Redis round trip
        self._published: list[asyncio.Future[None]] = []

    async def db(self, fn, *args):
        """Run a sync ORM call on one of the process's database threads."""
        return await db(fn, *args)

    # -- fencing ----------------------------------------------------------------------------
    @property
    def lost(self) -> bool:
        return isinstance(self._lost, ClaimLost)

    def _check(self) -> None:
        if self._lost is not None:
            raise self._lost

    def _lose(self, reason: str) -> ClaimLost:
        if self._lost is None:
            self._lost = ClaimLost(reason)
            log.warning("run %s: %s; writing nothing more for it", self.run_id, reason)
        return self._lost if isinstance(self._lost, ClaimLost) else ClaimLost(reason)

    def _mine(self):
        return Run.objects.filter(pk=self.run_id, epoch=self.epoch)

    async def heartbeat(self) -> bool:
        """Renew the lease under our epoch. False (and lost from now on) if the run was claimed
        by someone else; database errors propagate (the caller retries at its next beat).
        Once the run's final fields are queued (they release the lease), nothing is renewed."""
        if self._lost is not None:
            return False
        if self._final_queued:
            return True
        sent = time.monotonic()
        lease = timezone.now() + timedelta(seconds=settings.KAIZEN_LEASE_S)
        seq = self._committed_seq
        if await self.db(lambda: self._mine().update(lease_expires_at=lease, last_seq=seq)):
            # Only we can have taken it until the lease lapses; keep a margin for clock skew.
            self._valid_until = sent + settings.KAIZEN_LEASE_S / 2
            return True
        self._lose("the run was claimed by another worker")
        return False

    async def ensure_current(self) -> None:
        """Raise ClaimLost unless our claim is current: free while the last renewal is recent,
        one conditional UPDATE otherwise (after a freeze longer than half the lease).

        While the worker hands the run off, a caller waits here until the engine is stopped:
        no new LLM call starts."""
        self._check()
        if self._paused:
            self.paused_waiters += 1
            try:
                await asyncio.get_running_loop().create_future()  # until the handoff cancels us
            finally:
                self.paused_waiters -= 1
        if time.monotonic() < self._valid_until:
            return
        if not await self.heartbeat():
            self._check()

    def pause_calls(self) -> None:
        self._paused = True

    async def seal(self) -> None:
        """Write what is pending, then nothing more: every later write raises HandedOff."""
        await self.flush()
        if self._lost is None:
            self._lost = HandedOff("the worker is shutting down; the run is handed off")

    async def unseal_for_handoff(self) -> None:
        """After the engine stopped: allow the handoff's own event to be written."""
        if isinstance(self._lost, HandedOff):
            self._lost = None

    async def finish(self, **fields: Any) -> bool:
        """The run row's final update, under our epoch, in the same commit as the run's last
        events (so whoever hears ``run_finished`` finds the row final). False if fenced out."""
        self._check()
        if self._final_queued:  # (queued with the last event: wait for that commit)
            await self.flush()
            if isinstance(self._lost, ClaimLost):
                return False
            self._check()
            return True
        if self._seq is not None:
            fields["last_seq"] = self._seq
        self._final = fields
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._hurry.set()
        self._kick()
        try:
            await waiter
        except ClaimLost:
            return False
        await self.flush()  # (and published)
        return True

    # -- CheckpointStore ------------------------------------------------------------------
    async def load(self, run_id: str) -> dict[str, dict[str, Any]]:
        def read() -> dict[str, dict[str, Any]]:
            if self.epoch is None:
                self.epoch = Run.objects.values_list("epoch", flat=True).get(pk=self.run_id)
            self._seq = RunEvent.objects.filter(run_id=self.run_id).aggregate(m=Max("seq"))["m"] or 0
            self._committed_seq = self._seq
            return {ns.node_id: ns.data for ns in NodeState.objects.filter(run_id=self.run_id)}

        if self._start is not None and self.epoch is not None:
            (self._seq, loaded), self._start = self._start, None
            self._committed_seq = self._seq
        else:
            loaded = await self.db(read)
        self._valid_until = time.monotonic() + settings.KAIZEN_LEASE_S / 2  # just claimed
        return loaded

    def queue_save(self, run_id: str, node_id: str, state: dict[str, Any]) -> asyncio.Future[None]:
        self._check()
        self._states[node_id] = state
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._kick()
        return waiter

    def flush_soon(self) -> None:
        self._hurry.set()

    # -- EventSink ------------------------------------------------------------------------
    async def emit(self, run_id: str, event: str, node_id: str | None, data: dict[str, Any]) -> None:
        assert self._seq is not None, "load() first: it reads where the sequence stands"
        self._check()
        self._seq += 1
        text = json_text(data)  # (once: the writer and the stream reuse the text)
        stored = json.loads(text)  # (a copy the engine cannot change after the fact)
        self._events.append(PendingEvent(self.run_id, self._seq, event, node_id or "", datetime.now(UTC), stored, text))
        if event in END_EVENTS and not node_id and self.final_with_last_event:
            # The run's end (or its parking on a human node): its row's final fields go in the
            # same commit as this event, which the engine queues before it waits for its last
            # saves (one commit ends the run; whoever hears the event finds the row final).
            self._final = _final_fields(stored, self._seq, parked=event == "run_waiting")
            self._final_queued = True
        self._kick()

    # -- writer ---------------------------------------------------------------------------
    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self._events or self._states or self._final is not None:
            if not self._hurry.is_set():
                try:
                    await asyncio.wait_for(self._hurry.wait(), LINGER_S)
                except TimeoutError:
                    pass
            self._hurry.clear()
            events, self._events = self._events, []
            states, self._states = self._states, {}
            waiters, self._waiters = self._waiters, []
            final, self._final = self._final, None
            try:
                assert self.epoch is not None, "load() reads the claim's epoch"
                await WRITER.submit(self.run_id, self.epoch, events, states, final)
            except BaseException as exc:
                # Fenced out, or a batch the database refused for its data: either way nothing
                # after it may be written (the sequence would have a gap), so the recorder stops.
                if self._lost is None:
                    self._lost = exc if not isinstance(exc, asyncio.CancelledError) else ClaimLost("writer cancelled")
                self._events.clear()
                self._states.clear()
                for w in [*waiters, *self._waiters]:
                    if not w.done():
                        w.set_exception(self._lost)
                self._waiters.clear()
                return
            if events:
                self._committed_seq = events[-1].seq
            for w in waiters:
                if not w.done():
                    w.set_result(None)
            if events and self._pipelined is not None:  # published in order, off the checkpoint path
                self._published = [f for f in self._published if not f.done()]
                self._published.append(self._pipelined.publish(self.run_id, events))
            elif events:  # (likewise, by its own task)
                self._to_publish.append(events)
                if self._publisher is None or self._publisher.done():
                    self._publisher = asyncio.ensure_future(self._publish_loop())

    async def _publish_loop(self) -> None:
        while self._to_publish:
            await self._publish(self._to_publish.pop(0))

    async def _publish(self, events: list[PendingEvent]) -> None:
        if self._layer is None or not events:
            return
        try:
            for group, message in run_messages(self.run_id, events):
                await self._layer.group_send(group, message)
        except Exception:  # the stream is best effort: the database has every event
            log.warning("publishing events %s.. of run %s failed", events[0].seq, self.run_id, exc_info=True)

    @property
    def last_seq(self) -> int:
        return self._seq or 0

    async def flush(self) -> None:
        """Wait until everything emitted or saved so far is written and published."""
        self._hurry.set()
        while True:
            if self._flusher is not None and not self._flusher.done():
                await self._flusher
            elif self._publisher is not None and not self._publisher.done():
                await self._publisher
            elif self._published:
                await self._published.pop(0)
            else:
                return

    async def close(self) -> None:
        await self.flush()


def _final_fields(finished: dict[str, Any], last_seq: int, parked: bool = False) -> dict[str, Any]:
    """The run row's final fields from its ``run_finished`` (or ``run_waiting``) event, as the
    driver would write them from the engine's result (a parked run has no finished_at)."""
    cost = finished.get("cost_usd")
    return {"status": finished["status"], "outputs": finished.get("outputs") or {}, "error": finished.get("error"),
            "cost_usd": None if cost is None else Decimal(str(cost)), "prompt_tokens": finished.get("prompt_tokens"),
            "completion_tokens": finished.get("completion_tokens"), "finished_at": None if parked else timezone.now(),
            "last_seq": last_seq, "cancel_requested": False, "lease_owner": "", "lease_expires_at": None}
