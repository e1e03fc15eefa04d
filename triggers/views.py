"""The "Triggers and schedules" panel on a graph's page (loaded and updated with htmx): list,
create, edit, enable/disable, delete, regenerate a secret (shown once), next firing times."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from graphs.selectors import graph_or_404
from graphs.services import ServiceError
from kaizen_web.htmx import HtmxHttpRequest
from workspaces.permissions import abilities, role_of

from . import selectors, services
from .auth import tolerance_s
from .forms import trigger_problems
from .models import Schedule, WebhookTrigger


def _graph(request, pk: int):
    """The graph if the caller may see it (404 otherwise); changing its triggers and schedules
    takes the editor role (403 below it), reading them any member's."""
    return graph_or_404(request.user, pk, "view" if request.method in ("GET", "HEAD") else "edit")


def _panel(request: HtmxHttpRequest, graph, *, secret: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
           form: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:
    schedules = [{"s": s, "describe": services.describe(s), "next": [(t.isoformat(), t.strftime("%a %-d %b %H:%M:%S"))
                                                                       for t in selectors.next_firings(s, 3)],
                  "inputs_json": json.dumps(s.inputs) if s.inputs else ""}
                 for s in selectors.schedules_for_graph(graph)]
    triggers = [{"t": t, "url": request.build_absolute_uri(t.path),
                 "mapping_text": "\n".join(f"{k} = {v}" for k, v in t.mapping.items())}
                for t in selectors.triggers_for_graph(graph)]
    return render(request, "triggers/_panel.html", {
        "graph": graph, "triggers": triggers, "schedules": schedules, "secret": secret, "errors": errors or {},
        "form": form or {}, "calls": selectors.recent_calls(graph), "firings": selectors.recent_firings(graph),
        "input_names": _input_names(graph), "tolerance_s": tolerance_s(),
        "can": abilities(getattr(graph, "kaizen_role", None) or role_of(request.user, graph.workspace_id)),
    }, status=status)


def _input_names(graph) -> list[str]:
    if graph.published_version is None:
        return []
    version = graph.versions.filter(number=graph.published_version).values_list("spec__inputs", flat=True).first()
    return sorted(version or {})


def _done(request: HtmxHttpRequest, graph, **kwargs: Any) -> HttpResponse:
    return _panel(request, graph, **kwargs) if request.htmx else redirect("graph-detail", pk=graph.pk)


def parse_mapping(text: str) -> tuple[dict[str, str], str]:
    """Lines "input = path" (or a JSON object) -> ({input: path}, problem)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return {}, "not a JSON object"
        return (value, "") if isinstance(value, dict) else ({}, "not a JSON object")
    mapping = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, path = line.partition("=")
        if not sep or not name.strip():
            return {}, f"each line is: input = /json/pointer or dotted.path (not {line.strip()!r})"
        mapping[name.strip()] = path.strip()
    return mapping, ""


def _int(raw: str | None, default: int | None = None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else default
    except ValueError:
        return -1  # (refused by the field's check, with its message)


def _trigger_fields(post) -> tuple[dict[str, Any], dict[str, str]]:
    mapping, problem = parse_mapping(post.get("mapping", ""))
    fields = {"name": post.get("name", "").strip(), "auth": post.get("auth", "token"), "mode": post.get("mode", "async"),
              "mapping": mapping, "wait_s": _int(post.get("wait_s"), 30), "rate_limit": post.get("rate_limit", "").strip(),
              "max_body_bytes": _int(post.get("max_body_bytes"), 256 * 1024)}
    problems = trigger_problems(fields)
    if problem:
        problems["mapping"] = problem
    return fields, problems


def _schedule_fields(post) -> tuple[dict[str, Any], dict[str, str]]:
    problems = {}
    try:
        inputs = json.loads(post.get("inputs") or "{}")
    except ValueError:
        inputs, problems["inputs"] = {}, "a JSON object of the graph's inputs"
    kind = post.get("kind", "cron")
    fields = {"name": post.get("name", "").strip(), "kind": kind, "cron": post.get("cron", "").strip() if kind == "cron" else "",
              "interval_s": _int(post.get("interval_s")) if kind == "interval" else None,
              "timezone": post.get("timezone", "UTC").strip() or "UTC", "inputs": inputs,
              "missed": post.get("missed", Schedule.Missed.RUN_ONCE)}
    problems.update(services.schedule_problems(fields))
    if fields["missed"] not in Schedule.Missed.values:
        problems["missed"] = "skip or run_once"
    return fields, problems


@login_required
@require_http_methods(["GET", "POST"])
def graph_triggers(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    graph = _graph(request, pk)
    if request.method == "GET":
        return _panel(request, graph)
    fields, problems = _trigger_fields(request.POST)
    if problems:  # (htmx swaps only 2xx: errors come back as 200)
        return _panel(request, graph, errors={f"trigger.{k}": v for k, v in problems.items()}, form=request.POST)
    trigger, secret = services.trigger_create(graph=graph, user=request.user, **fields)
    return _done(request, graph, secret={"trigger": trigger.pk, "value": secret, "auth": trigger.auth})


@login_required
@require_POST
def trigger_action(request: HtmxHttpRequest, pk: int, tid: int, action: str) -> HttpResponse:
    graph = _graph(request, pk)
    trigger = get_object_or_404(WebhookTrigger, pk=tid, graph=graph)
    secret = None
    if action == "toggle":
        services.trigger_update(trigger=trigger, user=request.user, enabled=not trigger.enabled)
    elif action == "delete":
        services.trigger_delete(trigger=trigger, user=request.user)
    elif action == "regenerate":
        secret = {"trigger": trigger.pk, "value": services.trigger_regenerate_secret(trigger=trigger, user=request.user),
                  "auth": trigger.auth}
    elif action == "edit":
        fields, problems = _trigger_fields(request.POST)
        if problems:
            return _panel(request, graph, errors={f"trigger{trigger.pk}.{k}": v for k, v in problems.items()})
        _, new = services.trigger_update(trigger=trigger, user=request.user, **fields)
        secret = {"trigger": trigger.pk, "value": new, "auth": trigger.auth} if new else None
    else:
        raise Http404("unknown action")
    return _done(request, graph, secret=secret)


@login_required
@require_POST
def graph_schedules(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    graph = _graph(request, pk)
    fields, problems = _schedule_fields(request.POST)
    if problems:
        return _panel(request, graph, errors={f"schedule.{k}": v for k, v in problems.items()}, form=request.POST)
    services.schedule_create(graph=graph, user=request.user, **fields)
    return _done(request, graph)


@login_required
@require_POST
def schedule_action(request: HtmxHttpRequest, pk: int, sid: int, action: str) -> HttpResponse:
    graph = _graph(request, pk)
    schedule = get_object_or_404(Schedule, pk=sid, graph=graph)
    try:
        if action == "toggle":
            services.schedule_update(schedule=schedule, user=request.user, enabled=not schedule.enabled)
        elif action == "delete":
            services.schedule_delete(schedule=schedule, user=request.user)
        elif action == "edit":
            fields, problems = _schedule_fields(request.POST)
            if problems:
                return _panel(request, graph, errors={f"schedule{schedule.pk}.{k}": v for k, v in problems.items()})
            services.schedule_update(schedule=schedule, user=request.user, **fields)
        else:
            raise Http404("unknown action")
    except ServiceError as exc:
        return _panel(request, graph, errors={f"schedule{schedule.pk}.": str(exc)})
    return _done(request, graph)
