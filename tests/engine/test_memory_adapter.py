"""The Django/Redis memory tiers: cold rows in PostgreSQL (MemoryRecord), warm copies in Redis."""

from __future__ import annotations

import pytest

from graphs.engine.memory import HotTier, TieredMemory
from graphs.memory_adapter import CacheWarmStore, DatabaseColdStore, RedisWarmStore, memory_sessions, warm_store
from graphs.models import MemoryRecord


@pytest.fixture
def warm(settings):
    return RedisWarmStore(settings.REDIS_URL) if settings.REDIS_URL else CacheWarmStore()


@pytest.mark.django_db(transaction=True)
async def test_cold_rows_and_warm_copies(user, warm):
    memory = TieredMemory(HotTier(), warm, DatabaseColdStore())
    await memory.append(user.pk, "adapter-s1", [{"user": "hi", "assistant": "hello"}])
    first = await memory.load(user.pk, "adapter-s1")
    second = await memory.load(user.pk, "adapter-s1")
    third = await memory.load(user.pk, "adapter-s1")
    assert (first.served_from, second.served_from, third.served_from) == ("cold", "cold", "warm")
    row = await MemoryRecord.objects.aget(owner=user, session_id="adapter-s1")
    assert row.tier == "warm" and row.access_count == 3 and row.turns == [{"user": "hi", "assistant": "hello"}]
    assert (await warm.get(f"{user.pk}:adapter-s1"))["access_count"] == 3
    sessions = await _sessions(user.pk)
    assert [(s["session_id"], s["tier"], s["access_count"], s["turns"]) for s in sessions] == [("adapter-s1", "warm", 3, 1)]
    await warm.delete(f"{user.pk}:adapter-s1")


async def _sessions(owner_id):
    from asgiref.sync import sync_to_async

    return await sync_to_async(memory_sessions)(owner_id)


async def test_runs_without_an_owner_keep_no_cold_memory():
    cold = DatabaseColdStore()
    await cold.save(None, "x", {"turns": [], "tier": "cold"})
    assert await cold.load(None, "x") is None


def test_warm_store_follows_the_settings(settings):
    assert isinstance(warm_store(), RedisWarmStore if settings.REDIS_URL else CacheWarmStore)
