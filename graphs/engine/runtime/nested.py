"""Ports for child runs (for-each bodies, budget-guarded subgraphs): the parent's checkpoint
store and event sink, with node ids namespaced ``<parent node>/<key>/<child node>``."""

from __future__ import annotations

import asyncio
from typing import Any

from ..ports import CheckpointStore, EventSink, TokenSink

# A child run's own start/finish are reported as sub-run events; its interrupt/cancel is the parent's business.
_RENAMED = {"run_started": "subrun_started", "run_resumed": "subrun_started", "run_finished": "subrun_finished"}
_DROPPED = {"interrupted", "cancelled"}


class NamespacedStore:
    def __init__(self, inner: CheckpointStore, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix + "/"

    async def load(self, run_id: str) -> dict[str, dict[str, Any]]:
        saved = await self.inner.load(run_id)
        # the whole subtree: grandchildren's spending counts against this child's budget too
        return {k[len(self.prefix):]: v for k, v in saved.items() if k.startswith(self.prefix)}

    def queue_save(self, run_id: str, node_id: str, state: dict[str, Any]) -> asyncio.Future[None]:
        return self.inner.queue_save(run_id, self.prefix + node_id, state)

    def flush_soon(self) -> None:
        self.inner.flush_soon()

    async def ensure_current(self) -> None:
        await self.inner.ensure_current()


class NamespacedEvents:
    def __init__(self, inner: EventSink, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix

    async def emit(self, run_id: str, event: str, node_id: str | None, data: dict[str, Any]) -> None:
        if event in _DROPPED:
            return
        event = _RENAMED.get(event, event)
        await self.inner.emit(run_id, event, f"{self.prefix}/{node_id}" if node_id else self.prefix, data)


class NamespacedTokens:
    def __init__(self, inner: TokenSink, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix + "/"

    def tokens(self, node_id: str, key: str, offset: int, text: str) -> None:
        self.inner.tokens(self.prefix + node_id, key, offset, text)


class CachedStore:
    """The top-level run's store, read once: child runs load their namespace from this view
    (kept current by every save) instead of re-reading the database mid-run."""

    def __init__(self, inner: CheckpointStore) -> None:
        self.inner = inner
        self._view: dict[str, dict[str, dict[str, Any]]] = {}

    async def load(self, run_id: str) -> dict[str, dict[str, Any]]:
        if run_id not in self._view:
            self._view[run_id] = await self.inner.load(run_id)
        return dict(self._view[run_id])

    def queue_save(self, run_id: str, node_id: str, state: dict[str, Any]) -> asyncio.Future[None]:
        self._view.setdefault(run_id, {})[node_id] = state
        return self.inner.queue_save(run_id, node_id, state)

    def flush_soon(self) -> None:
        self.inner.flush_soon()

    async def ensure_current(self) -> None:
        await self.inner.ensure_current()
