"""Reads for the graph page and the API: a graph's triggers, schedules, their recent calls and
firings, and the next firing times."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditEntry

from . import timing
from .models import Schedule, ScheduleFiring, WebhookTrigger


def triggers_for_graph(graph) -> QuerySet[WebhookTrigger]:
    return WebhookTrigger.objects.filter(graph=graph).order_by("id")


def schedules_for_graph(graph) -> QuerySet[Schedule]:
    return Schedule.objects.filter(graph=graph).order_by("id")


def recent_calls(graph, limit: int = 10) -> QuerySet[AuditEntry]:
    """The trigger calls of this graph, newest first, accepted and refused (from the audit log)."""
    return AuditEntry.objects.filter(graph_id=graph.pk, event="trigger.called").order_by("-id")[:limit]


def recent_firings(graph, limit: int = 10) -> QuerySet[ScheduleFiring]:
    return ScheduleFiring.objects.filter(schedule__graph=graph).select_related("schedule").order_by("-id")[:limit]


def next_firings(schedule: Schedule, count: int = 3, now: datetime | None = None) -> list[datetime]:
    if not schedule.enabled:
        return []
    return timing.next_firings(schedule, now or timezone.now(), count)
