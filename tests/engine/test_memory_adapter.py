"""The Django/Redis memory tiers: cold rows in the database (MemoryRecord, the truth), warm copies
in Redis, hot copies per process, each served only while its version is the stored one.

Runs on PostgreSQL (scripts/test) and on SQLite (the embedded default: run pytest without
DATABASE_URL); the two-process test needs a database both processes reach (PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from graphs.engine.memory import HotTier, TieredMemory, TierPolicy
from graphs.engine.ports import ClaimLost
from graphs.memory_adapter import (
    CacheWarmStore,
    DatabaseColdStore,
    RedisWarmStore,
    build_memory,
    memory_sessions,
    optimize_memory,
    warm_store,
)
from graphs.models import Graph, GraphVersion, MemoryRecord, Run
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)
EAGER = TierPolicy(hot_promotion_threshold=1, warm_promotion_threshold=1)


@pytest.fixture
def warm(settings):
    store = RedisWarmStore(settings.REDIS_URL) if settings.REDIS_URL else CacheWarmStore()
    yield store
    if settings.REDIS_URL:
        store.client.flushdb()


WS: dict[int, int] = {}


def wsid(user) -> int:
    """The user's personal workspace id: memory sessions belong to a workspace."""
    return WS[user.pk]


@pytest.fixture(autouse=True)
def _workspace_ids(user, other_user):
    from workspaces.models import Workspace

    WS.update({u.pk: Workspace.objects.get(personal_for=u).pk for u in (user, other_user)})


def row(owner, session) -> MemoryRecord:
    return MemoryRecord.objects.get(workspace_id=owner, session_id=session)


async def test_cold_rows_and_warm_copies(user, warm):
    memory = TieredMemory(HotTier(), warm, DatabaseColdStore())
    await memory.append(wsid(user), "adapter-s1", [{"user": "hi", "assistant": "hello"}])
    first = await memory.load(wsid(user), "adapter-s1")
    second = await memory.load(wsid(user), "adapter-s1")
    third = await memory.load(wsid(user), "adapter-s1")
    assert (first.served_from, second.served_from, third.served_from) == ("cold", "cold", "warm")
    record = await MemoryRecord.objects.aget(workspace_id=wsid(user), session_id="adapter-s1")
    assert record.tier == "warm" and record.access_count == 3 and record.turns == [{"user": "hi", "assistant": "hello"}]
    assert record.version == 1 and record.policy == TierPolicy().as_dict()
    assert await warm.get(f"{wsid(user)}:adapter-s1") == {"turns": record.turns, "version": 1}
    sessions = await sync_to_async(memory_sessions)(wsid(user))
    assert [(s["session_id"], s["tier"], s["access_count"], s["turns"]) for s in sessions] == [("adapter-s1", "warm", 3, 1)]


async def test_appends_trim_to_max_turns_in_the_database(user, warm):
    memory = TieredMemory(HotTier(), warm, DatabaseColdStore())
    for i in range(5):
        record = await memory.append(wsid(user), "s", [{"user": f"q{i}", "n": i}, {"user": f"r{i}", "n": [i]}], max_turns=3)
    assert [t["user"] for t in record["turns"]] == ["r3", "q4", "r4"] and record["version"] == 5
    stored = await MemoryRecord.objects.aget(workspace_id=wsid(user), session_id="s")
    assert stored.turns == [{"user": "r3", "n": [3]}, {"user": "q4", "n": 4}, {"user": "r4", "n": [4]}]


async def test_two_hot_tiers_see_each_others_appends_and_lose_none(user, warm):
    """Two processes' hot tiers (two HotTier objects) over one database: a hot copy is served
    only while current, and concurrent appends all land."""
    a, b = (TieredMemory(HotTier(), warm, DatabaseColdStore(), EAGER) for _ in range(2))
    await a.load(wsid(user), "s"), await b.load(wsid(user), "s")
    await a.append(wsid(user), "s", [{"user": "from a"}])
    assert (await a.load(wsid(user), "s")).served_from == "hot"
    view = await b.load(wsid(user), "s")  # b's hot copy (version 0) is stale
    assert view.served_from == "warm" and view.turns == [{"user": "from a"}]
    await b.append(wsid(user), "s", [{"user": "from b"}])
    view = await a.load(wsid(user), "s")
    assert view.served_from != "hot" and [t["user"] for t in view.turns] == ["from a", "from b"]
    await asyncio.gather(*(m.append(wsid(user), "s", [{"user": f"{name}{i}"}])
                           for i in range(20) for name, m in (("a", a), ("b", b))))
    stored = await MemoryRecord.objects.aget(workspace_id=wsid(user), session_id="s")
    assert len(stored.turns) == 42 and stored.version == 42
    assert {t["user"] for t in stored.turns} == {"from a", "from b"} | {f"{n}{i}" for n in "ab" for i in range(20)}


async def test_a_hot_hit_writes_nothing_until_the_periodic_flush(user, warm):
    memory = TieredMemory(HotTier(), warm, DatabaseColdStore(), EAGER)
    await memory.append(wsid(user), "s", [{"user": "hi"}])
    await memory.load(wsid(user), "s")
    before = await MemoryRecord.objects.aget(workspace_id=wsid(user), session_id="s")
    views = [await memory.load(wsid(user), "s") for _ in range(3)]
    assert [v.served_from for v in views] == ["hot"] * 3 and views[-1].access_count == before.access_count + 3
    after = await MemoryRecord.objects.aget(workspace_id=wsid(user), session_id="s")
    assert (after.access_count, after.last_access_at, after.updated_at) == (before.access_count, before.last_access_at, before.updated_at)
    assert await memory.flush_hits() == 1
    assert (await MemoryRecord.objects.aget(workspace_id=wsid(user), session_id="s")).access_count == before.access_count + 3


def test_demotion_follows_each_sessions_own_policy(user, other_user):
    async def promote():
        memory = build_memory()
        for _ in range(2):
            await memory.load(wsid(user), "patient", TierPolicy(warm_promotion_threshold=2, demote_after_seconds=3600))
            await memory.load(wsid(other_user), "hasty", TierPolicy(warm_promotion_threshold=2, demote_after_seconds=60))

    asyncio.run(promote())
    an_hour_ago = timezone.now() - timedelta(seconds=600)
    MemoryRecord.objects.update(last_access_at=an_hour_ago)
    assert optimize_memory() == [(wsid(other_user), "hasty", "warm->cold")]
    assert row(wsid(user), "patient").tier == "warm" and row(wsid(other_user), "hasty").tier == "cold"
    assert optimize_memory() == []


def test_every_worker_runs_the_optimisation_periodically(user, settings):
    """The worker_ready handler (real Celery workers and the embedded one alike) starts the loop."""
    from graphs.runner import worker

    settings.KAIZEN_MEMORY_OPTIMIZE_S, settings.KAIZEN_SWEEP_S = 0.05, 0
    settings.KAIZEN_GC_FREEZE = False  # (this is the test process: its heap stays as it is)
    MemoryRecord.objects.create(workspace_id=wsid(user), session_id="idle", tier="hot", access_count=9,
                                last_access_at=timezone.now() - timedelta(days=2), policy={"demote_after_seconds": 60})
    worker._on_worker_ready()
    try:
        deadline = time.monotonic() + 20
        while row(wsid(user), "idle").tier != "cold" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker._on_worker_shutdown()
    assert row(wsid(user), "idle").tier == "cold"


@pytest.fixture
def run(user):
    graph = Graph.objects.create(owner=user, name="g")
    version = GraphVersion.objects.create(graph=graph, number=1, spec={"nodes": [], "edges": []})
    return Run.objects.create(graph=graph, version=version, created_by=user, epoch=3)


async def test_fenced_writes_stop_when_the_claim_is_stale(user, run, warm):
    fenced = TieredMemory(HotTier(), warm, DatabaseColdStore(fence=(run.pk, 3)), EAGER)
    await fenced.append(wsid(user), "s", [{"user": "mine"}])
    assert (await fenced.load(wsid(user), "s")).turns == [{"user": "mine"}]
    await Run.objects.filter(pk=run.pk).aupdate(epoch=4)  # another worker claimed the run
    with pytest.raises(ClaimLost):
        await fenced.append(wsid(user), "s", [{"user": "stale"}])
    with pytest.raises(ClaimLost):
        await fenced.load(wsid(user), "s")  # the hot copy's currency check carries the fence too
    with pytest.raises(ClaimLost):
        await fenced.append(wsid(user), "new-session", [{"user": "stale"}])
    stored = await MemoryRecord.objects.aget(workspace_id=wsid(user), session_id="s")
    assert stored.turns == [{"user": "mine"}] and stored.version == 1
    assert not await MemoryRecord.objects.filter(session_id="new-session").aexists()
    current = build_memory(fence=(run.pk, 4))
    await current.append(wsid(user), "s", [{"user": "new owner"}])
    assert len((await build_memory().load(wsid(user), "s")).turns) == 2  # unfenced memory still works


async def test_runs_without_an_owner_keep_no_cold_memory():
    memory = TieredMemory(HotTier(), CacheWarmStore(), DatabaseColdStore())
    await memory.append(None, "x", [{"user": "hi"}])
    assert (await memory.load(None, "x")).served_from == "new"
    assert not await MemoryRecord.objects.aexists()


def test_warm_store_follows_the_settings(settings):
    assert isinstance(warm_store(), RedisWarmStore if settings.REDIS_URL else CacheWarmStore)


def test_two_processes_append_to_one_session_and_each_reads_the_others_latest_turn(user):
    if connection.vendor != "postgresql":
        pytest.skip("two processes need a shared database: PostgreSQL (scripts/test)")
    s = connection.settings_dict
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "DATABASE_URL": f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"}
    rounds = 25
    procs = [subprocess.Popen([sys.executable, "-m", "tests.engine.memory_proc", str(wsid(user)), "shared", me, peer, str(rounds)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for me, peer in (("a", "b"), ("b", "a"))]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    served = [s for out, _err in outputs for s in json.loads(out.strip().splitlines()[-1])["served"]]
    assert "hot" in served  # the hot tier was in play, and never served a stale copy (else a wait never ends)
    stored = row(wsid(user), "shared")
    users = [t["user"] for t in stored.turns]
    expected = {f"{me}-{i}" for me in "ab" for i in range(rounds)} | {f"{me}-free-{i}" for me in "ab" for i in range(rounds)}
    assert len(users) == len(expected) == stored.version and set(users) == expected
    for me in "ab":  # each process's turns in its own order
        mine = [u for u in users if u.startswith(f"{me}-free-")]
        assert mine == [f"{me}-free-{i}" for i in range(rounds)]
