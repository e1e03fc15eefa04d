"""REST endpoints for a graph's webhook triggers and schedules (the graph page uses views.py)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from graphs.selectors import graph_or_404
from graphs.services import ServiceError

from . import selectors, services
from .forms import trigger_problems
from .models import Schedule, WebhookTrigger

TRIGGER_INPUT = {"name", "auth", "mapping", "mode", "wait_s", "rate_limit", "max_body_bytes", "enabled"}
SCHEDULE_INPUT = {"name", "kind", "cron", "interval_s", "timezone", "inputs", "missed", "enabled"}


def _graph(request, pk: int):
    """The graph if the caller may see it (404 otherwise); changing its triggers and schedules
    takes the editor role (403 below it), reading them any member's."""
    return graph_or_404(request.user, pk, "view" if request.method in ("GET", "HEAD") else "edit")


def _fields(request: Request, allowed: set[str]) -> dict[str, Any]:
    data = request.data if isinstance(request.data, dict) else None
    if data is None:
        raise ServiceError("send a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ServiceError("unknown fields", _issues({k: "unknown field" for k in unknown}))
    return dict(data)


def _issues(problems: dict[str, str]):
    from graphs.engine.validate import Issue

    return [Issue(path, message) for path, message in problems.items()]


def trigger_data(request: Request, t: WebhookTrigger, secret: str = "") -> dict[str, Any]:
    data = {**services.trigger_public(t), "url": request.build_absolute_uri(t.path), "created_at": t.created_at}
    if secret:
        data["secret"] = secret  # shown this once
    return data


def schedule_data(s: Schedule) -> dict[str, Any]:
    return {**services.schedule_public(s), "description": services.describe(s),
            "next_firings": [t.isoformat() for t in selectors.next_firings(s, 5)]}


def _checked_trigger(fields: dict[str, Any]) -> dict[str, Any]:
    if problems := trigger_problems(fields):
        raise ServiceError("the trigger is invalid", _issues(problems))
    return fields


class TriggerListView(APIView):
    def get(self, request: Request, pk: int) -> Response:
        graph = _graph(request, pk)
        return Response([trigger_data(request, t) for t in selectors.triggers_for_graph(graph)])

    def post(self, request: Request, pk: int) -> Response:
        graph = _graph(request, pk)
        trigger, secret = services.trigger_create(graph=graph, user=request.user,
                                                  **_checked_trigger(_fields(request, TRIGGER_INPUT)))
        return Response(trigger_data(request, trigger, secret), status=status.HTTP_201_CREATED)


class TriggerDetailView(APIView):
    def _trigger(self, request: Request, pk: int, tid: int) -> WebhookTrigger:
        return get_object_or_404(WebhookTrigger, pk=tid, graph=_graph(request, pk))

    def get(self, request: Request, pk: int, tid: int) -> Response:
        return Response(trigger_data(request, self._trigger(request, pk, tid)))

    def patch(self, request: Request, pk: int, tid: int) -> Response:
        trigger = self._trigger(request, pk, tid)
        trigger, secret = services.trigger_update(trigger=trigger, user=request.user,
                                                  **_checked_trigger(_fields(request, TRIGGER_INPUT)))
        return Response(trigger_data(request, trigger, secret))

    def delete(self, request: Request, pk: int, tid: int) -> Response:
        services.trigger_delete(trigger=self._trigger(request, pk, tid), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TriggerRegenerateView(APIView):
    def post(self, request: Request, pk: int, tid: int) -> Response:
        trigger = get_object_or_404(WebhookTrigger, pk=tid, graph=_graph(request, pk))
        secret = services.trigger_regenerate_secret(trigger=trigger, user=request.user)
        return Response(trigger_data(request, trigger, secret))


class ScheduleListView(APIView):
    def get(self, request: Request, pk: int) -> Response:
        graph = _graph(request, pk)
        return Response([schedule_data(s) for s in selectors.schedules_for_graph(graph)])

    def post(self, request: Request, pk: int) -> Response:
        graph = _graph(request, pk)
        schedule = services.schedule_create(graph=graph, user=request.user, **_fields(request, SCHEDULE_INPUT))
        return Response(schedule_data(schedule), status=status.HTTP_201_CREATED)


class ScheduleDetailView(APIView):
    def _schedule(self, request: Request, pk: int, sid: int) -> Schedule:
        return get_object_or_404(Schedule, pk=sid, graph=_graph(request, pk))

    def get(self, request: Request, pk: int, sid: int) -> Response:
        schedule = self._schedule(request, pk, sid)
        firings = [{"fire_at": f.fire_at, "outcome": f.outcome, "run": f.run_id, "late_s": f.late_s, "detail": f.detail}
                   for f in schedule.firings.order_by("-fire_at")[:50]]
        return Response({**schedule_data(schedule), "firings": firings})

    def patch(self, request: Request, pk: int, sid: int) -> Response:
        schedule = services.schedule_update(schedule=self._schedule(request, pk, sid), user=request.user,
                                            **_fields(request, SCHEDULE_INPUT))
        return Response(schedule_data(schedule))

    def delete(self, request: Request, pk: int, sid: int) -> Response:
        services.schedule_delete(schedule=self._schedule(request, pk, sid), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
