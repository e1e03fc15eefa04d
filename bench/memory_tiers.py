"""Conversation memory tiers: latency of a cold-tier get (the access-counting upsert returning the
turns) and put (the appending upsert), a hot-tier hit (the version check) and a warm hit, as an
agent's engine sees them (awaited from the run loop; the statements run on the memory threads).

    .venv/bin/python bench/memory_tiers.py [--n 2000] [--turns 50]

Needs PostgreSQL (and Redis for the warm row); uses database `kaizen_memory_bench` (or
BENCH_DATABASE_URL). Target (issue 13): cold tier p99 under 5 ms. The memory's owner is a
workspace (the bench user's personal one); its statements run on the process's database threads
(kaizen_web/dbthreads.py), which keep their connections.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kaizen_memory_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaizen_web.settings")
os.environ.setdefault("KAIZEN_LOG_LEVEL", "WARNING")
from bench import stack  # noqa: E402

stack.bench_secrets()


def ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
            conn.execute(f'create database "{name}"')


def _create_commit_table() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_commit (x int)")
        cursor.execute("TRUNCATE bench_commit")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def timed(n: int, call) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


async def bench(n: int, turns: int) -> list[tuple[str, list[float]]]:
    from django.contrib.auth import get_user_model

    from graphs import memory_adapter
    from graphs.engine.memory import HotTier, TieredMemory, TierPolicy
    from graphs.memory_adapter import DatabaseColdStore, RedisWarmStore
    from kaizen_web.dbthreads import db
    from workspaces.services import ensure_personal_workspace

    user, _ = await get_user_model().objects.aget_or_create(username="memory-bench")
    owner = await db(ensure_personal_workspace, user)
    cold = DatabaseColdStore()
    policy = TierPolicy(max_turns=turns)
    turn = {"user": "What is the status of my order 12345? " * 3, "assistant": "It shipped yesterday; tracking follows. " * 3}
    sessions = [f"bench-{i}" for i in range(200)]
    for s in sessions:  # full sessions: every get returns `turns` turns
        await cold.append(owner.pk, s, [turn] * turns, turns, policy, time.time())
    rows = []

    def durable_commit() -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_commit VALUES (1)")

    await db(_create_commit_table)
    rows.append(("floor: any durable one-row commit (same threads)", await timed(n, lambda i: db(durable_commit))))
    await timed(50, lambda i: cold.touch(owner.pk, sessions[i % 200], policy, time.time(), None))  # warm-up
    rows.append(("cold get (upsert counting the access, returns turns)",
                 await timed(n, lambda i: cold.touch(owner.pk, sessions[i % 200], policy, time.time(), None))))
    rows.append(("cold put (appending upsert, trims in SQL)",
                 await timed(n, lambda i: cold.append(owner.pk, sessions[i % 200], [turn], turns, None, time.time()))))
    hot = TieredMemory(HotTier(), memory_adapter.CacheWarmStore(), cold, TierPolicy(hot_promotion_threshold=1))
    await hot.load(owner.pk, "bench-0")
    rows.append(("hot hit (version check, no write)", await timed(n, lambda i: hot.load(owner.pk, "bench-0"))))
    if os.environ.get("REDIS_URL"):
        warm = RedisWarmStore(os.environ["REDIS_URL"])
        tiered = TieredMemory(HotTier(capacity=0), warm, cold, TierPolicy(warm_promotion_threshold=1, hot_promotion_threshold=10**6))
        await tiered.load(owner.pk, "bench-1")
        rows.append(("warm hit (Redis copy + upsert without turns)", await timed(n, lambda i: tiered.load(owner.pk, "bench-1"))))
        warm.client.delete(*warm.client.keys("kaizen:memory:*") or ["-"])

    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--turns", type=int, default=50)
    args = parser.parse_args()
    ensure_database()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    rows = asyncio.run(bench(args.n, args.turns))
    print(f"memory tiers, {args.turns} turns per session, {args.n} calls each (ms)")
    print(f"{'':55} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
    for name, ms in rows:
        print(f"{name:55} {statistics.median(ms):7.2f} {pct(ms, 95):7.2f} {pct(ms, 99):7.2f} {max(ms):7.2f}")


if __name__ == "__main__":
    main()
