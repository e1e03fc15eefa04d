"""The hooks panel on a graph's page (loaded and updated with htmx)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from graphs.engine.hooks import HookEvent
from graphs.models import Graph
from kaizen_web.htmx import HtmxHttpRequest
from workspaces.permissions import abilities, get_for, role_of

from . import selectors, services
from .models import GraphHook, HookDelivery


class HookForm(forms.Form):
    kind = forms.ChoiceField(choices=GraphHook.Kind.choices)
    name = forms.CharField(max_length=100, required=False)
    url = forms.URLField(max_length=500, required=False, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=[(e.value, e.value) for e in HookEvent], required=False)
    threshold_ms = forms.IntegerField(min_value=1, required=False)

    def clean(self):
        data = super().clean()
        for field, message in services.hook_issues(kind=data.get("kind"), url=data.get("url") or "",
                                                   threshold_ms=data.get("threshold_ms")).items():
            self.add_error(field, message)
        return data


def _graph(request: HttpRequest, graph_id: int, action: str = "view") -> Graph:
    return get_for(request.user, Graph, graph_id, action)  # 404 as a missing one outside the user's workspaces


def _panel(request: HttpRequest, graph: Graph, form: HookForm | None = None, secret: str = "", status: int = 200) -> HttpResponse:
    hooks = list(selectors.hooks_for_graph(graph))
    deliveries = HookDelivery.objects.filter(hook__graph=graph).select_related("hook")[:15]
    return render(request, "audit/_graph_hooks.html", {
        "graph": graph, "hooks": hooks, "deliveries": deliveries, "form": form or HookForm(),
        "new_secret": secret, "kinds": GraphHook.Kind.choices,
        "hook_events": [e.value for e in HookEvent],
        "can": abilities(getattr(graph, "kaizen_role", None) or role_of(request.user, graph.workspace_id)),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def graph_hooks(request: HtmxHttpRequest, graph_id: int) -> HttpResponse:
    graph = _graph(request, graph_id, "view" if request.method == "GET" else "edit")
    if request.method == "GET":
        return _panel(request, graph)
    form = HookForm(request.POST)
    if not form.is_valid():
        return _panel(request, graph, form)  # htmx swaps only 2xx: errors come back as 200
    hook = services.hook_create(graph=graph, user=request.user, **form.cleaned_data)
    if not request.htmx:
        return redirect("graph-detail", pk=graph.pk)
    return _panel(request, graph, secret=hook.signing_secret)


@login_required
@require_POST
def hook_action(request: HtmxHttpRequest, graph_id: int, hook_id: int, action: str) -> HttpResponse:
    graph = _graph(request, graph_id, "edit")
    hook = get_object_or_404(GraphHook, pk=hook_id, graph=graph)
    if action == "toggle":
        services.hook_update(hook=hook, user=request.user, enabled=not hook.enabled)
    elif action == "delete":
        services.hook_delete(hook=hook, user=request.user)
    else:
        raise Http404("unknown action")
    return _panel(request, graph) if request.htmx else redirect("graph-detail", pk=graph.pk)
