"""Reads for the graph page and the API: a graph's triggers, schedules, their recent calls and
firings, and the next firing times."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditEntry

from . import timing
from .models import Schedule, ScheduleFiring, WebhookTrigger
from .refusals import window_counts


def triggers_for_graph(graph) -> QuerySet[WebhookTrigger]:
    return WebhookTrigger.objects.filter(graph=graph).order_by("id")


def schedules_for_graph(graph) -> QuerySet[Schedule]:
    return Schedule.objects.filter(graph=graph).order_by("id")


def recent_calls(graph, limit: int = 10) -> list[AuditEntry]:
    """The trigger calls of this graph, newest first, accepted and refused (from the audit log); a
    refusal that opened a window has ``folded``: its RefusalWindow (how many calls the row stands for)."""
    calls = list(AuditEntry.objects.filter(graph_id=graph.pk, event="trigger.called").order_by("-id")[:limit])
    refs = {call.pk: _window_of(call) for call in calls}
    windows = window_counts([ref for ref in refs.values() if ref is not None])
    for call in calls:
        ref = refs[call.pk]
        call.folded = windows.get(ref) if ref is not None else None
    return calls


def _window_of(call: AuditEntry) -> int | None:
    ref = call.data.get("refusal_window") if isinstance(call.data, dict) else None
    return ref if isinstance(ref, int) else None


def recent_firings(graph, limit: int = 10) -> QuerySet[ScheduleFiring]:
    return ScheduleFiring.objects.filter(schedule__graph=graph).select_related("schedule").order_by("-id")[:limit]


def next_firings(schedule: Schedule, count: int = 3, now: datetime | None = None) -> list[datetime]:
    if not schedule.enabled:
        return []
    return timing.next_firings(schedule, now or timezone.now(), count)
