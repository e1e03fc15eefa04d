"""Django/Redis implementations of the memory tiers: warm in Redis (or the Django cache when
no Redis is configured), cold in the database (MemoryRecord). The hot tier is this process's LRU."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from .engine.memory import HotTier, TieredMemory
from .engine.memory.tiers import Record
from .models import MemoryRecord

WARM_PREFIX = "kaizen:memory:"
WARM_TTL_S = 7 * 24 * 3600
HOT = HotTier(capacity=1000)  # per worker process
_DB = ThreadPoolExecutor(2, thread_name_prefix="memory-db")


async def _in_thread(fn, *args):
    def call():
        try:
            return fn(*args)
        finally:
            connection.close()  # a few queries per run: no idle connection left on these threads

    return await asyncio.get_running_loop().run_in_executor(_DB, call)


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


class DatabaseColdStore:
    """One MemoryRecord per (owner, session); runs without an owner keep no cold memory."""

    async def load(self, owner: Any, session_id: str) -> Record | None:
        if owner is None:
            return None

        def read() -> Record | None:
            row = MemoryRecord.objects.filter(owner_id=owner, session_id=session_id).first()
            return _record(row) if row else None

        return await _in_thread(read)

    async def save(self, owner: Any, session_id: str, record: Record) -> None:
        if owner is None:
            return
        fields = {"turns": record["turns"], "access_count": record.get("access_count", 0),
                  "last_access_at": _ts(record.get("last_access_at")), "tier": record.get("tier", "cold")}
        await _in_thread(lambda: MemoryRecord.objects.update_or_create(owner_id=owner, session_id=session_id, defaults=fields))

    async def promoted(self) -> list[tuple[Any, str, Record]]:
        def read() -> list[tuple[Any, str, Record]]:
            rows = MemoryRecord.objects.filter(tier__in=["warm", "hot"])
            return [(r.owner_id, r.session_id, _record(r)) for r in rows]

        return await _in_thread(read)


def _record(row: MemoryRecord) -> Record:
    return {"turns": row.turns, "access_count": row.access_count, "tier": row.tier,
            "last_access_at": row.last_access_at.timestamp() if row.last_access_at else None}


class RedisWarmStore:
    """Warm tier in Redis; a sync client (pooled, not tied to any event loop) in a thread."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)

    async def get(self, key: str) -> Record | None:
        raw = await asyncio.to_thread(self.client.get, WARM_PREFIX + key)
        return json.loads(raw) if raw else None

    async def set(self, key: str, record: Record) -> None:
        await asyncio.to_thread(self.client.set, WARM_PREFIX + key, json.dumps(record), ex=WARM_TTL_S)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete, WARM_PREFIX + key)


class CacheWarmStore:
    """Warm tier in the Django cache (embedded installs without Redis)."""

    async def get(self, key: str) -> Record | None:
        return await cache.aget(WARM_PREFIX + key)

    async def set(self, key: str, record: Record) -> None:
        await cache.aset(WARM_PREFIX + key, record, WARM_TTL_S)

    async def delete(self, key: str) -> None:
        await cache.adelete(WARM_PREFIX + key)


_WARM: Any = None


def warm_store() -> Any:
    global _WARM
    if _WARM is None:
        _WARM = RedisWarmStore(settings.REDIS_URL) if settings.REDIS_URL else CacheWarmStore()
    return _WARM


def build_memory() -> TieredMemory:
    """The MemoryStore a run's engine uses."""
    return TieredMemory(HOT, warm_store(), DatabaseColdStore())


def memory_sessions(owner_id: int) -> list[dict[str, Any]]:
    """Per session of a user: which tier holds it, access counts, turns (for the API/page)."""
    rows = MemoryRecord.objects.filter(owner_id=owner_id).order_by("-updated_at")
    return [{"session_id": r.session_id, "tier": r.tier, "access_count": r.access_count,
             "last_access_at": r.last_access_at.isoformat() if r.last_access_at else None,
             "turns": len(r.turns or []), "in_hot_tier_of_this_process": f"{owner_id}:{r.session_id}" in HOT,
             "updated_at": r.updated_at.isoformat()} for r in rows]
