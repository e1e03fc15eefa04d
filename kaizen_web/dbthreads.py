"""A process's database threads: every blocking ORM call made from async code goes here.

One small pool per process (``KAIZEN_WORKER_DB_THREADS``), shared by everything in it that is
not a request: the run driver (claims, heartbeats, reads), the memory tiers' cold store and the
audit hooks. Not a thread per run: a worker with five hundred concurrent runs holds as many
database connections as this pool has threads, plus the group-commit writer's and the sweeper's.
(Before, each run's hooks had a thread of their own that kept a connection until the run ended:
a worker's connections grew with its concurrent runs.)

With Django's connection pool (PostgreSQL, ``OPTIONS["pool"]``) a thread's connection stays
checked out between calls; without it, it stays open: these threads see no request signals, so
nothing else would reopen it per call. A call that fails because the connection broke (a
database restart, a dropped connection) closes it, so the next call on that thread reconnects.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

T = TypeVar("T")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pid = 0


def _executor() -> ThreadPoolExecutor:
    global _pool, _pid
    with _lock:
        if _pool is None or _pid != os.getpid():  # (a forked child starts its own: threads don't survive fork)
            _pool = ThreadPoolExecutor(settings.KAIZEN_WORKER_DB_THREADS, thread_name_prefix="kaizen-db")
            _pid = os.getpid()
        return _pool


def _call(fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    try:
        return fn(*args)
    except (OperationalError, InterfaceError):
        connection.close()  # broken: reconnect on this thread's next call
        raise
    except DatabaseError:
        if not _usable(connection):
            connection.close()
        raise


def _usable(conn: Any) -> bool:
    raw = getattr(conn, "connection", None)
    return raw is None or not (getattr(raw, "closed", False) or getattr(raw, "broken", False))


async def db(fn: Callable[..., T], *args: Any) -> T:
    """Run a sync ORM call on one of the process's database threads."""
    return await asyncio.get_running_loop().run_in_executor(_executor(), _call, fn, args)


def submit(fn: Callable[..., T], *args: Any) -> Future[T]:
    """From sync code: queue ``fn`` on the same threads (with the caller's context: log fields)."""
    return _executor().submit(contextvars.copy_context().run, _call, fn, args)


BACKOFF_S = (0.1, 0.2, 0.5, 1.0)


async def db_retrying(fn: Callable[..., T], *args: Any, give_up_after_s: float | None = None) -> T:
    """``db`` for a write that must happen (a run's final update, a claim): retried while the
    database is unreachable (a restart, dropped connections), with backoff; its own condition
    (the epoch) keeps a late retry from writing what is no longer ours."""
    loop = asyncio.get_running_loop()
    deadline = None if give_up_after_s is None else loop.time() + give_up_after_s
    attempt = 0
    while True:
        try:
            return await db(fn, *args)
        except (OperationalError, InterfaceError):
            if deadline is not None and loop.time() > deadline:
                raise
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1
