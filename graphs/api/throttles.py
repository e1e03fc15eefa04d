"""API rate limits (DRF throttles) whose rates are read from settings at each request.

DRF copies DEFAULT_THROTTLE_RATES into a class attribute when it is first imported, so a rate
changed later (by a test, or settings reloaded) would be ignored; these read
settings.KAIZEN_API_RATES instead. A scope with no rate (None) is not throttled. Counters live in
the default cache (Redis outside the embedded mode, so every web process shares them). A caller
over the limit gets 429 with Retry-After.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class _RateFromSettings:
    scope: str

    def get_rate(self):
        return settings.KAIZEN_API_RATES.get(self.scope)


class UserThrottle(_RateFromSettings, UserRateThrottle):
    """Per signed-in user (session or token)."""

    scope = "user"


class AnonThrottle(_RateFromSettings, AnonRateThrottle):
    """Per client address, for callers who are not signed in."""

    scope = "anon"


class RunStartThrottle(_RateFromSettings, UserRateThrottle):
    """Starting and resuming runs costs model calls: its own, lower rate per user."""

    scope = "runs"
