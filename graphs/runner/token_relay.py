"""Streamed LLM answers to the run page: the engine's TokenSink for one run on a worker.

Pieces are coalesced per node and call and sent to the run's channel group about every
``KAIZEN_TOKEN_FLUSH_S`` (50 ms) as one ``run.tokens`` message, never stored: the stream is
ephemeral (at most once, like every channel message); the journal and the ``post_llm_call`` event
keep the final text. Each entry says where its text starts in the attempt's answer (``offset``),
so a page can tell a retry that started over (offset 0) from a missed message (a gap). Past
``KAIZEN_TOKEN_STREAM_MAX_CHARS`` of one call nothing more is streamed (frames stay small; the
page shows the whole answer from the stored call when it ends). In the distributed mode the
messages leave through the process's pipelined publisher (publish.py), with the run's events,
instead of one awaited PUBLISH each on the run loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from ..events import run_group
from .publish import publisher_for

log = logging.getLogger(__name__)


class TokenRelay:
    def __init__(self, run_id: int, *, interval_s: float | None = None, layer: Any = None) -> None:
        self.run_id, self.group = run_id, run_group(run_id)
        self.interval_s = settings.KAIZEN_TOKEN_FLUSH_S if interval_s is None else interval_s
        self._layer = layer if layer is not None else get_channel_layer()
        # (the distributed mode: through the process's pipelined publisher, as the run's events go)
        self._pipelined = publisher_for(self._layer)
        self.max_chars = settings.KAIZEN_TOKEN_STREAM_MAX_CHARS  # streamed per call; the rest comes stored
        # (node, key) -> [offset of the first pending piece, pieces, offset after the last]
        self._pending: dict[tuple[str, str], list[Any]] = {}
        self._sender: asyncio.Task[None] | None = None
        self.sent = 0  # messages sent (for tests and the benchmark)

    def tokens(self, node_id: str, key: str, offset: int, text: str) -> None:
        if self._layer is None:
            return
        if offset >= self.max_chars:  # (the rest of a very long answer: the page gets it with post_llm_call)
            return
        text = text[:self.max_chars - offset]
        entry = self._pending.get((node_id, key))
        if entry is None or offset != entry[2]:  # (a retry started over)
            self._pending[(node_id, key)] = [offset, [text], offset + len(text)]
        else:
            entry[1].append(text)
            entry[2] += len(text)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.ensure_future(self._send_loop())

    async def _send_loop(self) -> None:
        while self._pending:
            await asyncio.sleep(self.interval_s)
            await self._send()

    async def _send(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        chunks = [{"node_id": node_id, "key": key, "offset": offset, "text": "".join(pieces)}
                  for (node_id, key), (offset, pieces, _end) in pending.items()]
        message = {"type": "run.tokens", "chunks": chunks}
        try:
            if self._pipelined is not None:
                await self._pipelined.send(self.run_id, message)
            else:
                await self._layer.group_send(self.group, message)
            self.sent += 1
        except Exception:  # best effort: the answer is stored with post_llm_call anyway
            log.warning("streaming tokens to %s failed", self.group, exc_info=True)

    async def close(self) -> None:
        """Send what is pending now, then stop."""
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        await self._send()
