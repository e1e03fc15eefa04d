"""ws/runs/<id>/?after=SEQ — replay stored events after SEQ, then stream live ones.

Read-only. The group is joined before the replay query, so an event committed meanwhile
arrives on the stream too; the consumer drops anything at or below the last seq it sent, so
the client sees each seq once, in order. A gap in the stream (channels_redis is at-most-once)
is filled from the database, and so is a silent tail: while the run is live, a consumer that has
heard nothing for TAIL_CHECK_S looks in the database itself, so a dropped last message cannot
leave a client waiting. Frames carry batches: {"type": "events", "events": [...]}. Streamed LLM
answers come as {"type": "tokens", "chunks": [{node_id, key, offset, text}]}: live only, never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .events import run_group, stream_event
from .models import Run, RunEvent
from .selectors import can_see_run

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
REPLAY_BATCH = 500
TAIL_CHECK_S = 2.0


class RunEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.group = run_group(self.run_id)
        self.joined = False
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.last_seq = max(0, int(query.get("after", ["0"])[0]))
        except ValueError:
            self.last_seq = 0
        allowed = await self._allowed()
        await self.accept()
        if not getattr(self.scope.get("user"), "is_authenticated", False):
            return await self.close(code=CLOSE_FORBIDDEN)  # (whether or not the run exists)
        if not allowed:  # another user's run closes as a missing one: ids cannot be enumerated
            return await self.close(code=CLOSE_NOT_FOUND)
        self.lock = asyncio.Lock()  # stream handler and tail watch never interleave their sends
        self.finished = False
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.joined = True
        async with self.lock:
            await self._catch_up()
        self.watch = asyncio.ensure_future(self._watch_tail())

    async def disconnect(self, code: int) -> None:
        if getattr(self, "watch", None):
            self.watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watch
        if self.joined:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _watch_tail(self) -> None:
        loop = asyncio.get_running_loop()
        self.heard_at = loop.time()
        while True:  # (a finished run may be resumed: keep watching, query only while live)
            await asyncio.sleep(TAIL_CHECK_S)
            if not self.finished and loop.time() - self.heard_at >= TAIL_CHECK_S:
                async with self.lock:
                    await self._catch_up()

    async def dispatch(self, message: dict) -> None:
        # Channels' dispatch hops to a thread for close_old_connections() before every message;
        # at a thousand stream messages a second that hop is a fifth of Daphne's CPU. This
        # consumer touches the database only through database_sync_to_async, which closes old
        # connections in its own thread, so stream messages skip the hop.
        if message["type"] == "run.events":
            await self.run_events(message)
        elif message["type"] == "run.tokens":
            await self.run_tokens(message)
        else:
            await super().dispatch(message)

    async def receive_json(self, content, **kwargs) -> None:
        pass  # read-only: clients say nothing we act on

    async def run_events(self, message: dict) -> None:
        self.heard_at = asyncio.get_running_loop().time()
        async with self.lock:
            fresh = [e for e in message["events"] if e["seq"] > self.last_seq]
            if fresh and fresh[0]["seq"] > self.last_seq + 1:  # we missed some: the database has them
                await self._catch_up(until=fresh[0]["seq"] - 1)
                fresh = [e for e in fresh if e["seq"] > self.last_seq]
            if fresh and fresh[0]["seq"] == self.last_seq + 1:
                await self._send(fresh)

    async def run_tokens(self, message: dict) -> None:
        """Streamed answer text: ephemeral, passed on as it comes (no seq, never replayed)."""
        await self.send_json({"type": "tokens", "chunks": message["chunks"]})

    async def _send(self, events: list[dict]) -> None:
        await self.send_json({"type": "events", "events": events})
        self.last_seq = events[-1]["seq"]
        self.finished = events[-1]["event"] in ("run_finished", "run_waiting")  # (parked: quiet until answered)

    async def _catch_up(self, until: int | None = None) -> None:
        while True:
            batch = await self._events_after(self.last_seq, until)
            if batch:
                await self._send(batch)
            if len(batch) < REPLAY_BATCH:
                return

    @database_sync_to_async
    def _events_after(self, after: int, until: int | None) -> list[dict]:
        qs = RunEvent.objects.filter(run_id=self.run_id, seq__gt=after).order_by("seq")
        if until is not None:
            qs = qs.filter(seq__lte=until)
        return [stream_event(ev) for ev in qs[:REPLAY_BATCH]]

    @database_sync_to_async
    def _allowed(self) -> bool | None:
        run = Run.objects.select_related("graph").filter(pk=self.run_id).first()
        if run is None:
            return None
        return can_see_run(self.scope.get("user"), run)



