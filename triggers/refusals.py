"""Refused trigger calls, bounded: the calls a sender can make without being let through (no or a
wrong secret, a disabled trigger, a body over the limit, over the rate) are audited once per
trigger, HTTP status and window (``KAIZEN_TRIGGER_REFUSAL_WINDOW_S`` from the first of them);
the rest of the window is counted on that window's row (RefusalWindow), and the audit row that
opens the next window says how many the last one counted. Refusals of calls that were let through
(400 inputs, 409 nothing published) stay one row each: they are bounded by the trigger's rate.

One conditional write per refusal, serialized per trigger by a lock on its row (PostgreSQL; SQLite
runs one write transaction at a time): correct with any number of web processes, no Redis needed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F

from audit import conf as audit_conf

from .models import RefusalWindow, WebhookTrigger

FOLDED = frozenset({401, 410, 413, 429})


def window_s() -> int:
    return int(getattr(settings, "KAIZEN_TRIGGER_REFUSAL_WINDOW_S", 60))


def count_refusal(trigger: WebhookTrigger, status: int, reason: str, now: datetime) -> dict[str, Any] | None:
    """Count one refused call (inside the caller's transaction). None: counted on an open window,
    nothing to audit; else what the call's audit row adds (the window it opens, if folded)."""
    if status not in FOLDED or not list(WebhookTrigger.objects.select_for_update().filter(pk=trigger.pk).values_list("pk")):
        return {}
    latest = RefusalWindow.objects.filter(trigger=trigger, http_status=status).order_by("-opened_at").first()
    if latest is not None and latest.opened_at > now - timedelta(seconds=window_s()):
        RefusalWindow.objects.filter(pk=latest.pk).update(count=F("count") + 1, last_at=now, last_reason=reason[:300])
        return None
    window = RefusalWindow.objects.create(trigger=trigger, http_status=status, opened_at=now, last_at=now,
                                          last_reason=reason[:300])
    facts: dict[str, Any] = {"refusal_window": window.pk, "window_s": window_s()}
    if latest is not None:  # (the closed window's count goes into the audit log with the next one)
        facts["previous_window"] = {"opened_at": latest.opened_at.isoformat(), "last_at": latest.last_at.isoformat(),
                                    "refusals": latest.count}
        RefusalWindow.objects.filter(trigger=trigger, opened_at__lt=now - timedelta(days=_retention_days())).delete()
    return facts


def _retention_days() -> int:
    return int(audit_conf.get("KAIZEN_AUDIT_RETENTION_DAYS"))  # (the windows go when their audit rows do)


def window_counts(ids: list[int]) -> dict[int, RefusalWindow]:
    """The windows the given audit rows opened, by id (for "Recent calls": how many each stands for)."""
    return RefusalWindow.objects.in_bulk(ids)
