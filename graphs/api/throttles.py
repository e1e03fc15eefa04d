"""API rate limits whose rates are read from settings at each request.

A sliding-window counter per (scope, caller): the count of this window plus the previous
window's count weighted by how much of it still overlaps the last period. On Redis (outside the
embedded mode, shared by every web process) that is one round trip per request: INCR and EXPIRE
of this window's key and GET of the previous one, pipelined. (DRF's own throttles keep every
request's timestamp in one cached list, read, unpickled, appended, pickled and written back on
each request: 12 % of a loaded web process at 1,200 requests a minute.)

A scope with no rate (None) is not throttled. A caller over the limit gets 429 with Retry-After.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

_lock = threading.Lock()
_redis = None


def _client():
    global _redis
    with _lock:
        if _redis is None:
            import redis

            _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        return _redis


def _counts(key: str, window: int, period: int) -> tuple[int, int]:
    """(this window's count after this request, the previous window's count)."""
    current, previous = f"kaizen-throttle:{key}:{window}", f"kaizen-throttle:{key}:{window - 1}"
    if settings.REDIS_URL:
        pipe = _client().pipeline(transaction=False)
        pipe.incr(current)
        pipe.expire(current, 2 * period, nx=True)
        pipe.get(previous)
        now_count, _, before = pipe.execute()
        return int(now_count), int(before or 0)
    cache.add(current, 0, 2 * period)
    return cache.incr(current), int(cache.get(previous) or 0)


async def acounts(keys: list[tuple[str, int, int]], extra_get: str | None = None) -> tuple[list[tuple[int, int]], bytes | None]:
    """``_counts`` for several (key, window, period) at once, from async code: on Redis one round
    trip for all of them (plus a GET of ``extra_get`` in the same pipeline); else the local cache
    (the embedded mode: in-process, no I/O). Returns the counts and the extra key's value."""
    if not settings.REDIS_URL:
        return [_counts(*k) for k in keys], None
    names = [name for key, window, _ in keys for name in (f"kaizen-throttle:{key}:{window}", f"kaizen-throttle:{key}:{window - 1}")]
    out = await _acounts_script()(keys=[*names, *([extra_get] if extra_get else [])],
                                  args=[len(keys), *(2 * period for _, _, period in keys)], client=_aclient())
    counts = [(int(out[i]), int(out[i + 1] or 0)) for i in range(0, 2 * len(keys), 2)]
    return counts, (out[-1] if extra_get else None)


# One EVALSHA instead of a pipeline of three commands per scope and a GET: the same commands, run
# by Redis; one command to write and one reply to read for the web process (a third of the CPU
# redis-py spent on the pipeline's packing and replies). KEYS: each scope's (current, previous)
# window keys, then the extra key if any; ARGV: the number of scopes, then each one's TTL.
_ACOUNTS_LUA = """
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  local current = KEYS[2 * i - 1]
  out[2 * i - 1] = redis.call('INCR', current)
  redis.call('EXPIRE', current, ARGV[i + 1], 'NX')
  out[2 * i] = redis.call('GET', KEYS[2 * i])
end
if #KEYS > 2 * n then
  out[2 * n + 1] = redis.call('GET', KEYS[2 * n + 1])
end
return out
"""
_acounts_scripts: dict[int, Any] = {}


def _acounts_script():
    client = _aclient()
    script = _acounts_scripts.get(id(client))
    if script is None:
        script = _acounts_scripts[id(client)] = client.register_script(_ACOUNTS_LUA)
    return script


_aredis: dict[int, Any] = {}


def _aclient():
    """An asyncio Redis client per event loop (a connection pool is bound to its loop)."""
    import asyncio

    import redis.asyncio

    loop = id(asyncio.get_running_loop())
    client = _aredis.get(loop)
    if client is None:
        client = _aredis[loop] = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    return client


def over_rate(key: str, rate: str) -> float | None:
    """Count one request against ``rate`` ("N/period") for ``key``: None if within it, else the
    seconds to wait (Retry-After). Also used per webhook trigger (triggers/)."""
    return over_limit(rate, time.time(), lambda window, period: _counts(key, window, period))


def over_limit(rate: str, now: float, counts_for) -> float | None:
    """Seconds to wait if this request goes over ``rate`` (None: allowed). ``counts_for(window,
    period)`` counts the request and returns (this window's count, the previous window's)."""
    limit, period = parse_rate(rate)
    window = int(now // period)
    elapsed = (now - window * period) / period
    current, previous = counts_for(window, period)
    if previous * (1 - elapsed) + current <= limit:
        return None
    return (window + 1) * period - now  # (a safe bound: by then this window's count is the weighted one)


def retry_after(wait: float) -> int:
    """A Retry-After in whole seconds, rounded up and never 0 (the window may end in 0.3 s)."""
    return max(1, math.ceil(wait))


def parse_rate(rate: str) -> tuple[int, int]:
    """'120/min' -> (120, 60); periods: s, m, h, d (any word starting with them)."""
    num, period = rate.split("/")
    return int(num), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


class _SlidingWindow(BaseThrottle):
    scope: str

    def __init__(self) -> None:
        self._wait = 0.0

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = settings.KAIZEN_API_RATES.get(self.scope)
        ident = self.ident(request) if rate else None
        if rate is None or ident is None:
            return True
        wait = over_limit(rate, time.time(), lambda window, period: _counts(f"{self.scope}:{ident}", window, period))
        if wait is None:
            return True
        self._wait = wait
        return False

    def wait(self) -> float:
        return float(retry_after(self._wait))


class UserThrottle(_SlidingWindow):
    """Per signed-in user (session or token)."""

    scope = "user"

    def ident(self, request) -> str | None:
        user = getattr(request, "user", None)
        return str(user.pk) if user is not None and user.is_authenticated else None


class AnonThrottle(_SlidingWindow):
    """Per client address, for callers who are not signed in."""

    scope = "anon"

    def ident(self, request) -> str | None:
        user = getattr(request, "user", None)
        return None if user is not None and user.is_authenticated else self.get_ident(request)


class RunStartThrottle(UserThrottle):
    """Starting and resuming runs costs model calls: its own, lower rate per user."""

    scope = "runs"


async def athrottle(scopes: tuple[str, ...], ident: str, extra_get: str | None = None) -> tuple[float | None, bytes | None]:
    """The throttles of ``scopes`` for a signed-in caller, from async code (the ASGI fast path,
    graphs/api/fast.py): every scope counted as DRF's check_throttles counts them, in one round
    trip. Returns (seconds to wait if any scope is over its rate, else None; ``extra_get``'s value)."""
    now = time.time()
    plan = []
    for scope in scopes:
        if rate := settings.KAIZEN_API_RATES.get(scope):
            period = parse_rate(rate)[1]
            plan.append((scope, rate, int(now // period), period))
    counts, extra = await acounts([(f"{scope}:{ident}", window, period) for scope, _, window, period in plan], extra_get)
    waits = [over_limit(rate, now, lambda _w, _p, c=c: c) for (_, rate, _, _), c in zip(plan, counts, strict=True)]
    found = [max(1.0, w) for w in waits if w is not None]  # (as _SlidingWindow.wait)
    return (max(found) if found else None), extra
class TokenThrottle(_SlidingWindow):
    """Per personal access token (apitokens): one user's CI token cannot use up their interactive
    rate, and a leaked token is bounded on its own. Session requests are not counted here."""

    scope = "token"

    def ident(self, request) -> str | None:
        auth = getattr(request, "auth", None)
        if auth is None or not getattr(auth, "is_personal_access_token", False):
            return None
        return str(auth.pk)
