"""Tier management: promotion after N accesses within a window, demotion after inactivity.

A session's record is plain data: ``{"turns", "access_count", "last_access_at", "tier"}``.
The cold store always holds it (and where it lives now); warm and hot hold copies.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

TIERS = ("cold", "warm", "hot")
Record = dict[str, Any]


@dataclass(frozen=True)
class TierPolicy:
    hot_promotion_threshold: int = 5  # accesses within the window -> hot tier
    warm_promotion_threshold: int = 2  # accesses within the window -> warm tier
    access_window_seconds: float = 3600.0  # a gap longer than this restarts the count
    demote_after_seconds: float = 86400.0  # idle this long -> one tier down (optimize)
    max_turns: int = 100


class WarmStore(Protocol):
    async def get(self, key: str) -> Record | None: ...
    async def set(self, key: str, record: Record) -> None: ...
    async def delete(self, key: str) -> None: ...


class ColdStore(Protocol):
    async def load(self, owner: Any, session_id: str) -> Record | None: ...
    async def save(self, owner: Any, session_id: str, record: Record) -> None: ...
    async def promoted(self) -> list[tuple[Any, str, Record]]:
        """Sessions whose tier is warm or hot (candidates for demotion)."""


@dataclass
class MemoryView:
    turns: list[dict[str, Any]]
    served_from: str  # hot, warm, cold or new
    tier: str  # where it lives after this access
    access_count: int


class HotTier:
    """Process-local LRU of records."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, Record] = OrderedDict()

    def get(self, key: str) -> Record | None:
        record = self._items.get(key)
        if record is not None:
            self._items.move_to_end(key)
        return record

    def put(self, key: str, record: Record) -> None:
        self._items[key] = record
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def discard(self, key: str) -> None:
        self._items.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._items


class InMemoryWarmStore:
    def __init__(self) -> None:
        self.data: dict[str, Record] = {}

    async def get(self, key: str) -> Record | None:
        return dict(self.data[key]) if key in self.data else None

    async def set(self, key: str, record: Record) -> None:
        self.data[key] = dict(record)

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)


class InMemoryColdStore:
    def __init__(self) -> None:
        self.data: dict[tuple[Any, str], Record] = {}

    async def load(self, owner: Any, session_id: str) -> Record | None:
        record = self.data.get((owner, session_id))
        return dict(record) if record else None

    async def save(self, owner: Any, session_id: str, record: Record) -> None:
        self.data[(owner, session_id)] = dict(record)

    async def promoted(self) -> list[tuple[Any, str, Record]]:
        return [(o, s, dict(r)) for (o, s), r in self.data.items() if r.get("tier") in ("warm", "hot")]


def _key(owner: Any, session_id: str) -> str:
    return f"{owner}:{session_id}"


class TieredMemory:
    """The MemoryStore the runtime hands to agents with a memory attachment."""

    def __init__(self, hot: HotTier, warm: WarmStore, cold: ColdStore, policy: TierPolicy | None = None,
                 clock: Callable[[], float] = time.time, auto_optimize_every_s: float | None = 60.0) -> None:
        self.hot, self.warm, self.cold = hot, warm, cold
        self.policy = policy or TierPolicy()
        self.clock = clock
        self.auto_optimize_every_s = auto_optimize_every_s  # demote idle sessions during loads, at most this often
        self._optimized_at: float | None = None

    async def _find(self, owner: Any, session_id: str) -> tuple[Record | None, str]:
        key = _key(owner, session_id)
        record = self.hot.get(key)
        if record is not None:
            return dict(record), "hot"
        record = await self.warm.get(key)
        if record is not None:
            return record, "warm"
        record = await self.cold.load(owner, session_id)
        return (record, "cold") if record is not None else (None, "new")

    async def load(self, owner: Any, session_id: str, policy: TierPolicy | None = None) -> MemoryView:
        """Read a session's turns; counts the access and promotes the session when it is due."""
        policy = policy or self.policy
        if self.auto_optimize_every_s is not None and (
                self._optimized_at is None or self.clock() - self._optimized_at >= self.auto_optimize_every_s):
            self._optimized_at = self.clock()
            await self.optimize(policy)
        record, served = await self._find(owner, session_id)
        record = record or {"turns": [], "access_count": 0, "last_access_at": None, "tier": "cold"}
        now = self.clock()
        last = record.get("last_access_at")
        in_window = last is not None and now - last <= policy.access_window_seconds
        record["access_count"] = (record.get("access_count", 0) if in_window else 0) + 1
        record["last_access_at"] = now
        due = ("hot" if record["access_count"] >= policy.hot_promotion_threshold
               else "warm" if record["access_count"] >= policy.warm_promotion_threshold else "cold")
        record["tier"] = max(record.get("tier", "cold"), due, key=TIERS.index)
        await self._place(owner, session_id, record)
        return MemoryView(list(record["turns"]), served, record["tier"], record["access_count"])

    async def append(self, owner: Any, session_id: str, turns: list[dict[str, Any]], max_turns: int | None = None) -> Record:
        """Add turns (oldest dropped beyond ``max_turns``); written through to every tier holding it."""
        record, _ = await self._find(owner, session_id)
        record = record or {"turns": [], "access_count": 0, "last_access_at": self.clock(), "tier": "cold"}
        record["turns"] = (list(record["turns"]) + list(turns))[-(max_turns or self.policy.max_turns):]
        await self._place(owner, session_id, record)
        return record

    async def _place(self, owner: Any, session_id: str, record: Record) -> None:
        key = _key(owner, session_id)
        await self.cold.save(owner, session_id, record)
        if record["tier"] == "hot":
            self.hot.put(key, dict(record))
            await self.warm.set(key, record)
        elif record["tier"] == "warm":
            self.hot.discard(key)
            await self.warm.set(key, record)
        else:
            self.hot.discard(key)
            await self.warm.delete(key)

    async def optimize(self, policy: TierPolicy | None = None) -> list[tuple[Any, str, str]]:
        """Demote sessions idle longer than ``demote_after_seconds`` one tier; returns the moves."""
        policy = policy or self.policy
        now, moves = self.clock(), []
        for owner, session_id, record in await self.cold.promoted():
            last = record.get("last_access_at") or 0
            if now - last <= policy.demote_after_seconds:
                continue
            old = record["tier"]
            record["tier"] = TIERS[TIERS.index(old) - 1]
            record["access_count"] = 0
            await self._place(owner, session_id, record)
            moves.append((owner, session_id, f"{old}->{record['tier']}"))
        return moves


_DEFAULT: TieredMemory | None = None


def default_memory() -> TieredMemory:
    """The memory an engine uses when its runtime passes none: all tiers in this process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = TieredMemory(HotTier(), InMemoryWarmStore(), InMemoryColdStore())
    return _DEFAULT
