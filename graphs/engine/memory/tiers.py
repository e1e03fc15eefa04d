"""Tier management: promotion after N accesses within a window, demotion after inactivity.

The cold store (the database) is the truth for every session: its turns, a ``version`` bumped by
every append, the access count, the tier it lives in and the session's own ``TierPolicy``. Warm
(a key-value store shared by processes) and hot (this process's LRU) hold copies tagged with the
version they were read at, and a copy is served only while that version is still the cold
store's (one indexed read for a hot copy; the warm check rides on the access-counting upsert).

Writes never copy a record back: an append is one atomic upsert that appends to the stored turns
and trims them in the store, so two processes appending to one session both land. A hot hit
writes nothing; its access is counted in this process and flushed in batches by ``optimize``,
which a periodic task runs (demotion follows each session's stored policy).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

TIERS = ("cold", "warm", "hot")
Record = dict[str, Any]  # turns, version, tier, access_count (turns None: the caller's copy is current)


@dataclass(frozen=True)
class TierPolicy:
    hot_promotion_threshold: int = 5  # accesses within the window -> hot tier
    warm_promotion_threshold: int = 2  # accesses within the window -> warm tier
    access_window_seconds: float = 3600.0  # a gap longer than this restarts the count
    demote_after_seconds: float = 86400.0  # idle this long -> one tier down (optimize)
    max_turns: int = 100

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TierPolicy:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def due(self, access_count: int) -> str:
        """The tier an access count earns (never lower than where the session already is)."""
        if access_count >= self.hot_promotion_threshold:
            return "hot"
        return "warm" if access_count >= self.warm_promotion_threshold else "cold"


class WarmStore(Protocol):
    async def get(self, key: str) -> Record | None: ...
    async def set(self, key: str, record: Record) -> None: ...
    async def delete(self, key: str) -> None: ...


class ColdStore(Protocol):
    """The truth. Every write is one atomic statement; none takes a record to write back."""

    async def peek(self, owner: Any, session_id: str) -> Record | None:
        """version, tier and access_count of a session (no turns): the hot tier's currency check."""

    async def touch(self, owner: Any, session_id: str, policy: TierPolicy, now: float, known_version: int | None) -> Record:
        """Count one access (restarting the count outside the window), promote as ``policy`` says,
        store ``policy`` as the session's; creates the session if new. ``turns`` is None when the
        stored version equals ``known_version`` (the caller's warm copy is current)."""

    async def append(self, owner: Any, session_id: str, turns: list[dict[str, Any]], max_turns: int,
                     policy: TierPolicy | None, now: float) -> Record:
        """Append turns to the stored ones, keep the last ``max_turns``, bump the version."""

    async def add_accesses(self, hits: dict[tuple[Any, str], tuple[int, float]]) -> None:
        """Add batched hot-tier accesses: (owner, session) -> (count, last access time)."""

    async def demote(self, now: float) -> list[tuple[Any, str, str]]:
        """One tier down for every warm/hot session idle longer than its own policy allows."""


@dataclass
class MemoryView:
    turns: list[dict[str, Any]]
    served_from: str  # hot, warm, cold or new
    tier: str  # where it lives after this access
    access_count: int


class HotTier:
    """Process-local LRU of {turns, version} copies, plus the accesses served from it that the
    cold store has not counted yet (flushed by ``TieredMemory.optimize``)."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, Record] = OrderedDict()
        self._hits: dict[tuple[Any, str], tuple[int, float]] = {}

    def get(self, key: str) -> Record | None:
        record = self._items.get(key)
        if record is not None:
            self._items.move_to_end(key)
        return record

    def put(self, key: str, record: Record) -> None:
        current = self._items.get(key)
        if current is not None and current.get("version", -1) > record.get("version", -1):
            return  # a concurrent load of this process already holds a newer copy
        self._items[key] = record
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def discard(self, key: str) -> None:
        self._items.pop(key, None)

    def hit(self, owner: Any, session_id: str, now: float) -> int:
        """Count an access served from here; returns this process's uncounted accesses."""
        count, _ = self._hits.get((owner, session_id), (0, now))
        self._hits[(owner, session_id)] = (count + 1, now)
        return count + 1

    def take_hits(self) -> dict[tuple[Any, str], tuple[int, float]]:
        hits, self._hits = self._hits, {}
        return hits

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
    """The cold store's contract in plain Python (one process, so each method is atomic)."""

    def __init__(self) -> None:
        self.data: dict[tuple[Any, str], Record] = {}

    async def peek(self, owner: Any, session_id: str) -> Record | None:
        row = self.data.get((owner, session_id))
        return None if row is None else {k: row[k] for k in ("version", "tier", "access_count")}

    async def touch(self, owner: Any, session_id: str, policy: TierPolicy, now: float, known_version: int | None) -> Record:
        row = self.data.setdefault((owner, session_id), _new_row(now, 0))
        last = row["last_access_at"]
        in_window = last is not None and now - last <= policy.access_window_seconds and row["access_count"] > 0
        row["access_count"] = (row["access_count"] if in_window else 0) + 1
        row["last_access_at"] = now
        row["tier"] = max(row["tier"], policy.due(row["access_count"]), key=TIERS.index)
        row["policy"] = policy.as_dict()
        return {"turns": None if row["version"] == known_version else list(row["turns"]), "version": row["version"],
                "tier": row["tier"], "access_count": row["access_count"]}

    async def append(self, owner: Any, session_id: str, turns: list[dict[str, Any]], max_turns: int,
                     policy: TierPolicy | None, now: float) -> Record:
        row = self.data.setdefault((owner, session_id), _new_row(now, 0))
        row["turns"] = (row["turns"] + list(turns))[-max_turns:]
        row["version"] += 1
        if policy is not None:
            row["policy"] = policy.as_dict()
        return {"turns": list(row["turns"]), "version": row["version"], "tier": row["tier"], "access_count": row["access_count"]}

    async def add_accesses(self, hits: dict[tuple[Any, str], tuple[int, float]]) -> None:
        for key, (count, last) in hits.items():
            if key in self.data:
                row = self.data[key]
                row["access_count"] += count
                row["last_access_at"] = max(row["last_access_at"] or 0, last)

    async def demote(self, now: float) -> list[tuple[Any, str, str]]:
        moves = []
        for (owner, session_id), row in self.data.items():
            policy = TierPolicy.from_dict(row["policy"])
            if row["tier"] != "cold" and now - (row["last_access_at"] or 0) > policy.demote_after_seconds:
                old, row["tier"] = row["tier"], TIERS[TIERS.index(row["tier"]) - 1]
                row["access_count"] = 0
                moves.append((owner, session_id, f"{old}->{row['tier']}"))
        return moves


def _new_row(now: float, access_count: int) -> Record:
    return {"turns": [], "version": 0, "tier": "cold", "access_count": access_count, "last_access_at": now,
            "policy": TierPolicy().as_dict()}


def _key(owner: Any, session_id: str) -> str:
    return f"{owner}:{session_id}"


class TieredMemory:
    """The MemoryStore the runtime hands to agents with a memory attachment."""

    def __init__(self, hot: HotTier, warm: WarmStore, cold: ColdStore, policy: TierPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.hot, self.warm, self.cold = hot, warm, cold
        self.policy = policy or TierPolicy()  # for callers that pass none (it is stored with the session)
        self.clock = clock

    async def load(self, owner: Any, session_id: str, policy: TierPolicy | None = None) -> MemoryView:
        """Read a session's turns from the fastest tier whose copy is current; counts the access
        and promotes the session as ``policy`` (stored as the session's own) says."""
        policy = policy or self.policy
        key, now = _key(owner, session_id), self.clock()
        cached = self.hot.get(key)
        if cached is not None:
            state = await self.cold.peek(owner, session_id)
            if state is not None and state["version"] == cached["version"] and state["tier"] == "hot":
                pending = self.hot.hit(owner, session_id, now)  # counted in the store by optimize()
                return MemoryView(list(cached["turns"]), "hot", "hot", state["access_count"] + pending)
            self.hot.discard(key)  # stale (another process appended) or demoted
        warm = await self.warm.get(key)
        record = await self.cold.touch(owner, session_id, policy, now, warm["version"] if warm else None)
        if record["turns"] is None and warm is not None:
            turns, served = warm["turns"], "warm"
        else:
            turns, served = record["turns"] or [], "cold" if record["version"] else "new"
        await self._place(key, record["tier"], turns, record["version"], warm_current=served == "warm", had_warm=warm is not None)
        return MemoryView(list(turns), served, record["tier"], record["access_count"])

    async def append(self, owner: Any, session_id: str, turns: list[dict[str, Any]], max_turns: int | None = None,
                     policy: TierPolicy | None = None) -> Record:
        """Add turns (oldest dropped beyond ``max_turns``) in one atomic write to the cold store;
        the copies of the tiers holding the session are refreshed with the stored result."""
        record = await self.cold.append(owner, session_id, list(turns), max_turns or (policy or self.policy).max_turns,
                                        policy, self.clock())
        await self._place(_key(owner, session_id), record["tier"], record["turns"], record["version"],
                          warm_current=False, had_warm=False)
        return record

    async def _place(self, key: str, tier: str, turns: list[dict[str, Any]], version: int, *, warm_current: bool,
                     had_warm: bool) -> None:
        copy = {"turns": list(turns), "version": version}
        if tier == "hot":
            self.hot.put(key, copy)
        else:
            self.hot.discard(key)
        if tier in ("warm", "hot") and not warm_current:
            await self.warm.set(key, copy)
        elif tier == "cold" and had_warm:
            await self.warm.delete(key)

    async def flush_hits(self) -> int:
        """Write this process's batched hot-tier accesses to the cold store."""
        hits = self.hot.take_hits()
        if hits:
            await self.cold.add_accesses(hits)
        return len(hits)

    async def optimize(self) -> list[tuple[Any, str, str]]:
        """The periodic task: flush batched accesses, then demote every session idle longer than
        its own policy's ``demote_after_seconds`` one tier, dropping the copies it no longer earns."""
        await self.flush_hits()
        moves = await self.cold.demote(self.clock())
        for owner, session_id, move in moves:
            key = _key(owner, session_id)
            self.hot.discard(key)
            if move.endswith("cold"):
                await self.warm.delete(key)
        return moves


def default_memory() -> TieredMemory:
    """A new memory with every tier in this process, for an engine whose runtime passes none
    (tests, benchmarks): it lives as long as that run. No module-level store: two runs share
    sessions only through a memory their runtime gives both (the Django adapter's, in the app)."""
    return TieredMemory(HotTier(), InMemoryWarmStore(), InMemoryColdStore())
