"""The browser graph editor page (a Vite-built React island) and creating a graph to edit."""

from __future__ import annotations

import copy

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from .. import selectors, services
from ..api.serializers import GraphSerializer
from ..demo import DEMO_GRAPHS
from ..engine.nodes import registry
from ..models import Graph

EMPTY_SPEC = {"schema_version": 1, "description": "", "inputs": {}, "outputs": {}, "nodes": [], "edges": [], "settings": {}}


def _templates() -> list[dict]:
    return [{"key": "empty", "name": "Empty graph", "description": "Start from a blank canvas.", "spec": EMPTY_SPEC}] + [
        {"key": f"demo-{i}", "name": name, "description": description, "spec": spec}
        for i, (name, description, spec) in enumerate(DEMO_GRAPHS)
    ]


def editor_config(request: HttpRequest, graph: Graph) -> dict:
    """Everything the editor needs at load, so it is interactive without another round trip."""
    return {
        "mode": "editor",
        "graph": GraphSerializer(graph).data,
        "kinds": registry.describe(),
        "csrf_token": get_token(request),
        "user": request.user.get_username(),
        "urls": {
            "graph": reverse("api-graph", args=[graph.pk]),
            "versions": reverse("api-graph-versions", args=[graph.pk]),
            "runs": reverse("api-graph-runs", args=[graph.pk]),
            "validate": reverse("api-graph-validate"),
            "detail": reverse("graph-detail", args=[graph.pk]),
        },
    }


@login_required
def graph_edit(request: HttpRequest, pk: int) -> HttpResponse:
    graph = get_object_or_404(Graph.objects.select_related("owner"), pk=pk)
    if not selectors.can_see_graph(request.user, graph):
        raise PermissionDenied
    return render(request, "graphs/editor.html", {"graph": graph, "config": editor_config(request, graph)})


@login_required
@require_http_methods(["GET", "POST"])
def graph_new(request: HttpRequest) -> HttpResponse:
    """GET: choose empty or a template; POST: create the graph and open it in the editor."""
    templates = _templates()
    if request.method == "GET":
        return render(request, "graphs/new.html", {"templates": templates})
    chosen = next((t for t in templates if t["key"] == request.POST.get("template", "empty")), templates[0])
    name = (request.POST.get("name") or "").strip()[:200] or ("Untitled graph" if chosen["key"] == "empty" else chosen["name"])
    version = services.graph_create(owner=request.user, name=name, spec=copy.deepcopy(chosen["spec"]),
                                    description="" if chosen["key"] == "empty" else chosen["description"])
    return redirect("graph-edit", pk=version.graph.pk)
