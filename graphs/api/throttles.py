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

import threading
import time

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
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        elapsed = (now - window * period) / period
        current, previous = _counts(f"{self.scope}:{ident}", window, period)
        if previous * (1 - elapsed) + current <= limit:
            return True
        self._wait = (window + 1) * period - now  # (a safe bound: by then this window's count is the weighted one)
        return False

    def wait(self) -> float:
        return max(1.0, self._wait)


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
