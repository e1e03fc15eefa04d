"""Django/Redis implementations of the memory tiers: cold in the database (MemoryRecord, the
truth), warm copies in Redis (or the Django cache when no Redis is configured), hot copies in
this process's LRU. See graphs/engine/memory/tiers.py for the protocol.

Every cold write is one statement: an upsert that counts an access or appends turns (trimmed
in SQL) and bumps the session's version, optionally fenced on the run's claim (``fence``): the
statement writes only while ``graphs_run.epoch`` is still the epoch the run was claimed at, and
raises ClaimLost otherwise. PostgreSQL and SQLite get the same statements in their dialects.

The statements run on the process's database threads (kaizen_web/dbthreads.py), so memory adds
no connection of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from kaizen_web.dbthreads import db

from .engine.memory import HotTier, TieredMemory
from .engine.memory.tiers import Record, TierPolicy
from .engine.ports import ClaimLost
from .models import MemoryRecord, Run

log = logging.getLogger(__name__)
WARM_PREFIX = "kaizen:memory:"
WARM_TTL_S = 7 * 24 * 3600
HOT = HotTier(capacity=1000)  # per worker process
_SQLITE_ONE_AT_A_TIME = threading.Lock()
T = MemoryRecord._meta.db_table
RUNS = Run._meta.db_table


async def _in_thread(fn, *args):
    """On the process's database threads (kaizen_web/dbthreads.py); SQLite takes one writer at a
    time anyway, so its statements queue here rather than in busy waits."""
    if connection.vendor == "sqlite":
        return await db(_one_at_a_time, fn, *args)
    return await db(fn, *args)


def _one_at_a_time(fn, *args):
    with _SQLITE_ONE_AT_A_TIME:
        return fn(*args)


def _dt(value: float) -> Any:
    return connection.ops.adapt_datetimefield_value(datetime.fromtimestamp(value, UTC))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class _Sql:
    """The cold tier's statements for one database vendor."""

    def __init__(self, vendor: str) -> None:
        pg = vendor == "postgresql"
        self.jsonb = "::jsonb" if pg else ""
        self.share = " FOR SHARE" if pg else ""  # a concurrent claim waits for (or invalidates) this write
        if pg:
            whole = "m.turns || excluded.turns"
            self.appended = (f"(SELECT COALESCE(jsonb_agg(x.value ORDER BY x.i), '[]'::jsonb) FROM jsonb_array_elements({whole}) "
                             f"WITH ORDINALITY AS x(value, i) WHERE x.i > jsonb_array_length({whole}) - %(max)s)")
        else:  # SQLite resolves neither the row nor excluded.* inside a derived table of SET: splice the texts
            whole = ("CASE WHEN json_array_length(m.turns) = 0 THEN json(%(turns)s) "
                     "WHEN json_array_length(%(turns)s) = 0 THEN json(m.turns) "
                     "ELSE substr(json(m.turns), 1, length(json(m.turns)) - 1) || ',' || substr(json(%(turns)s), 2) END")
            self.appended = ("(SELECT json_group_array(CASE WHEN type IN ('object', 'array') THEN json(value) ELSE value END) "
                             f"FROM json_each({whole}) "
                             "WHERE key >= json_array_length(m.turns) + json_array_length(%(turns)s) - %(max)s)")

    def fence(self, fenced: bool, lock: bool = True) -> str:
        if not fenced:
            return "TRUE"
        return f"EXISTS (SELECT 1 FROM {RUNS} WHERE id = %(run)s AND epoch = %(epoch)s{self.share if lock else ''})"

    def peek(self, fenced: bool) -> str:
        return (f"SELECT version, tier, access_count, {self.fence(fenced, lock=False)} FROM {T} "
                "WHERE workspace_id = %(owner)s AND session_id = %(session)s")

    def touch(self, fenced: bool) -> str:
        count = "(CASE WHEN m.last_access_at >= %(cutoff)s AND m.access_count > 0 THEN m.access_count + 1 ELSE 1 END)"
        tier = (f"CASE WHEN m.tier = 'hot' OR {count} >= %(hot_at)s THEN 'hot' "
                f"WHEN m.tier = 'warm' OR {count} >= %(warm_at)s THEN 'warm' ELSE 'cold' END")
        return (f"INSERT INTO {T} AS m (workspace_id, session_id, turns, access_count, last_access_at, tier, version, policy, updated_at) "
                f"SELECT %(owner)s, %(session)s, '[]'{self.jsonb}, 1, %(now)s, %(first_tier)s, 0, %(policy)s{self.jsonb}, %(now)s "
                f"WHERE {self.fence(fenced)} "
                f"ON CONFLICT (workspace_id, session_id) DO UPDATE SET access_count = {count}, "
                f"last_access_at = excluded.last_access_at, tier = {tier}, policy = excluded.policy "
                "RETURNING version, tier, access_count, CASE WHEN version = %(known)s THEN NULL ELSE turns END")

    def append(self, fenced: bool, keep_policy: bool) -> str:
        policy = "m.policy" if keep_policy else "excluded.policy"
        return (f"INSERT INTO {T} AS m (workspace_id, session_id, turns, access_count, last_access_at, tier, version, policy, updated_at) "
                f"SELECT %(owner)s, %(session)s, %(turns)s{self.jsonb}, 0, %(now)s, 'cold', 1, %(policy)s{self.jsonb}, %(now)s "
                f"WHERE {self.fence(fenced)} "
                f"ON CONFLICT (workspace_id, session_id) DO UPDATE SET turns = {self.appended}, version = m.version + 1, "
                f"policy = {policy}, updated_at = excluded.updated_at "
                "RETURNING version, tier, access_count, turns")

    def add_accesses(self) -> str:
        return (f"UPDATE {T} SET access_count = access_count + %(n)s, "
                "last_access_at = CASE WHEN last_access_at IS NULL OR last_access_at < %(at)s THEN %(at)s ELSE last_access_at END "
                "WHERE workspace_id = %(owner)s AND session_id = %(session)s")


_SQL: dict[str, _Sql] = {}
_SQL_LOCK = threading.Lock()


def _sql() -> _Sql:
    vendor = connection.vendor
    if vendor not in _SQL:
        with _SQL_LOCK:
            _SQL.setdefault(vendor, _Sql(vendor))
    return _SQL[vendor]


class DatabaseColdStore:
    """One MemoryRecord per (owner, session): the owner is the run's workspace (graphs/execution.py).

    ``fence=(run_id, epoch)``: every write is conditional on that claim of the run being current."""

    def __init__(self, fence: tuple[Any, int] | None = None) -> None:
        self.fence = fence

    def _params(self, owner: Any, session_id: str, **extra: Any) -> dict[str, Any]:
        params = {"owner": owner, "session": session_id, **extra}
        if self.fence is not None:
            params["run"], params["epoch"] = int(self.fence[0]), int(self.fence[1])
        return params

    def _one(self, sql: str, params: dict[str, Any]) -> tuple | None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params or None)
            return cursor.fetchone() if cursor.description else None

    def _lost(self) -> ClaimLost:
        return ClaimLost(f"run {self.fence[0]}: claim epoch {self.fence[1]} is no longer current")  # type: ignore[index]

    async def peek(self, owner: Any, session_id: str) -> Record | None:
        if owner is None:
            return None

        def read() -> tuple | None:
            return self._one(_sql().peek(self.fence is not None), self._params(owner, session_id))

        row = await _in_thread(read)
        if row is None:
            return None
        if not row[3]:
            raise self._lost()
        return {"version": row[0], "tier": row[1], "access_count": row[2]}

    async def touch(self, owner: Any, session_id: str, policy: TierPolicy, now: float, known_version: int | None) -> Record:
        if owner is None:
            return {"turns": [], "version": 0, "tier": "cold", "access_count": 1}

        def write() -> tuple | None:
            params = self._params(owner, session_id, now=_dt(now), cutoff=_dt(now - policy.access_window_seconds),
                                  hot_at=policy.hot_promotion_threshold, warm_at=policy.warm_promotion_threshold,
                                  first_tier=policy.due(1), policy=json.dumps(policy.as_dict()),
                                  known=-1 if known_version is None else known_version)
            if connection.vendor != "postgresql":
                return self._one(_sql().touch(self.fence is not None), params)
            # An access count is a hint, not data: its commit need not wait for the WAL flush (a
            # database crash may forget the last moment's counts, never a turn; appends stay durable).
            with transaction.atomic():
                self._one("SET LOCAL synchronous_commit = off", {})
                return self._one(_sql().touch(self.fence is not None), params)

        row = await _in_thread(write)
        if row is None:
            raise self._lost()
        return {"version": row[0], "tier": row[1], "access_count": row[2], "turns": None if row[3] is None else _json(row[3])}

    async def append(self, owner: Any, session_id: str, turns: list[dict[str, Any]], max_turns: int,
                     policy: TierPolicy | None, now: float) -> Record:
        turns = list(turns)[-max_turns:]
        if owner is None:
            return {"turns": turns, "version": 0, "tier": "cold", "access_count": 0}

        def write() -> tuple | None:
            params = self._params(owner, session_id, now=_dt(now), turns=json.dumps(turns), max=max_turns,
                                  policy=json.dumps((policy or TierPolicy()).as_dict()))
            return self._one(_sql().append(self.fence is not None, keep_policy=policy is None), params)

        row = await _in_thread(write)
        if row is None:
            raise self._lost()
        return {"version": row[0], "tier": row[1], "access_count": row[2], "turns": _json(row[3])}

    async def add_accesses(self, hits: dict[tuple[Any, str], tuple[int, float]]) -> None:
        """Batched hot-tier accesses (a process's own counts, not a run's write: not fenced)."""
        rows = [{"owner": o, "session": s, "n": n, "at": _dt(at)} for (o, s), (n, at) in hits.items() if o is not None]

        def write() -> None:
            with connection.cursor() as cursor:
                cursor.executemany(_sql().add_accesses(), rows)

        if rows:
            await _in_thread(write)

    async def demote(self, now: float) -> list[tuple[Any, str, str]]:
        return await _in_thread(demote_idle, now)


def demote_idle(now: float) -> list[tuple[Any, str, str]]:
    """One tier down for each warm/hot session idle longer than its own stored policy allows.

    Candidates are read, then each is demoted by an UPDATE conditional on the access time read,
    so a session accessed meanwhile keeps its tier."""
    moves = []
    moment = datetime.fromtimestamp(now, UTC)
    candidates = MemoryRecord.objects.filter(tier__in=["warm", "hot"]).values_list("pk", "workspace_id", "session_id", "tier",
                                                                                  "last_access_at", "policy")
    for pk, owner, session_id, tier, last, policy in candidates.iterator(chunk_size=1000):
        idle_after = timedelta(seconds=TierPolicy.from_dict(policy).demote_after_seconds)
        if last is not None and moment - last <= idle_after:
            continue
        lower = "warm" if tier == "hot" else "cold"
        if MemoryRecord.objects.filter(pk=pk, tier=tier, last_access_at=last).update(tier=lower, access_count=0):
            moves.append((owner, session_id, f"{tier}->{lower}"))
    return moves


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


def build_memory(fence: tuple[Any, int] | None = None) -> TieredMemory:
    """The MemoryStore a run's engine uses; ``fence=(run_id, epoch)`` makes every memory write
    through it conditional on that claim of the run (ClaimLost when it is stale)."""
    return TieredMemory(HOT, warm_store(), DatabaseColdStore(fence))


def optimize_memory() -> list[tuple[Any, str, str]]:
    """The periodic optimisation (graphs/runner/worker.py runs it in every worker, embedded included):
    this process's batched hot-tier accesses are counted, idle sessions demoted per their policy."""
    return asyncio.run(build_memory().optimize())


def memory_sessions(workspace_id: int | None) -> list[dict[str, Any]]:
    """Per session of a workspace: which tier holds it, access counts, turns (for the API/page)."""
    owner_id = workspace_id  # (the memory tiers' "owner" of a session is its workspace)
    rows = MemoryRecord.objects.filter(workspace_id=workspace_id or 0).order_by("-updated_at")
    return [{"session_id": r.session_id, "tier": r.tier, "access_count": r.access_count,
             "last_access_at": r.last_access_at.isoformat() if r.last_access_at else None,
             "turns": len(r.turns or []), "version": r.version,
             "in_hot_tier_of_this_process": f"{owner_id}:{r.session_id}" in HOT,
             "updated_at": r.updated_at.isoformat()} for r in rows]
