"""The browser graph editor page (a Vite-built React island) and creating a graph to edit."""

from __future__ import annotations

import copy
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from workspaces.current import current_workspace, explicit_workspace, follow
from workspaces.permissions import check, get_for

from .. import services
from ..api.parsers import bounded_loads
from ..api.serializers import GraphSerializer
from ..connections import with_endpoint_issues
from ..demo import DEMO_GRAPHS
from ..engine.nodes import registry
from ..engine.schema import MAX_DOCUMENT_BYTES
from ..engine.validate import check_document
from ..models import Graph
from ..pattern_templates import TEMPLATES

EMPTY_SPEC = {"schema_version": 1, "description": "", "inputs": {}, "outputs": {}, "nodes": [], "edges": [], "settings": {}}


def _templates() -> list[dict]:
    """Empty, the autonomy-pattern templates (shared with "New from template"), then the demos."""
    out = [{"key": "empty", "name": "Empty graph", "description": "Start from a blank canvas.", "spec": EMPTY_SPEC}]
    out += [{"key": f"pattern-{t.slug}", "name": t.name, "description": t.description, "spec": t.unplaced()} for t in TEMPLATES]
    out += [{"key": f"demo-{i}", "name": name, "description": description, "spec": spec}
            for i, (name, description, spec) in enumerate(DEMO_GRAPHS)]
    return out


def kind_defaults() -> dict[str, dict[str, Any]]:
    """Each kind's default config (what an empty config means), for new nodes in the palette."""
    out = {}
    for name in registry.kinds():
        try:
            kind = registry.get(name)
            if kind is not None:
                out[name] = kind.Config().model_dump(mode="json")
        except Exception:  # noqa: BLE001 - kinds with required config fields have no default
            continue
    return out


def check_spec(spec: Any, workspace: Any = None) -> dict[str, Any]:
    """Validation issues plus every valid node's ports, computed by the engine from its config,
    and the model endpoints the server would refuse to call (as the API's validate endpoint);
    with a ``workspace``, the connections and models it does not offer."""
    return with_endpoint_issues(check_document(spec), spec, workspace)


def editor_config(request: HttpRequest, graph: Graph) -> dict:
    """Everything the editor needs at load, so it is interactive without another round trip."""
    return {
        "mode": "editor",
        "graph": (data := GraphSerializer(graph).data),
        "ports": check_document(data["spec"])["ports"],
        "kinds": registry.describe(),
        "kind_defaults": kind_defaults(),
        "csrf_token": get_token(request),
        "user": request.user.get_username(),
        "urls": {
            "graph": reverse("api-graph", args=[graph.pk]),
            "versions": reverse("api-graph-versions", args=[graph.pk]),
            "runs": reverse("api-graph-runs", args=[graph.pk]),
            "validate": reverse("api-graph-validate") + f"?workspace={graph.workspace_id}",
            "check": reverse("graph-check") + f"?workspace={graph.workspace_id}",
            # the workspace's model connections and their models (the inspector's dropdowns)
            "connections": reverse("api-connections") + f"?workspace={graph.workspace_id}",
            "detail": reverse("graph-detail", args=[graph.pk]),
        },
    }


@login_required
def graph_edit(request: HttpRequest, pk: int) -> HttpResponse:
    # 404 outside the user's workspaces (as a missing one), 403 for a member who may not edit
    graph = get_for(request.user, Graph.objects.select_related("owner"), pk, "edit")
    follow(request, graph.workspace_id)
    return render(request, "graphs/editor.html", {"graph": graph, "config": editor_config(request, graph)})


@login_required
@require_http_methods(["GET", "POST"])
def graph_new(request: HttpRequest) -> HttpResponse:
    """GET: choose empty or a template; POST: create the graph and open it in the editor."""
    templates = _templates()
    workspace = check(request.user, "edit", current_workspace(request))
    if request.method == "GET":
        return render(request, "graphs/new.html", {"templates": templates, "workspace": workspace})
    chosen = next((t for t in templates if t["key"] == request.POST.get("template", "empty")), templates[0])
    name = (request.POST.get("name") or "").strip()[:200] or ("Untitled graph" if chosen["key"] == "empty" else chosen["name"])
    version = services.graph_create(owner=request.user, workspace=workspace, name=name, spec=copy.deepcopy(chosen["spec"]),
                                    description="" if chosen["key"] == "empty" else chosen["description"])
    return redirect("graph-edit", pk=version.graph.pk)


@login_required
@require_http_methods(["POST"])
def graph_check(request: HttpRequest) -> JsonResponse:
    """The editor's live check: {"spec"} -> {"valid", "errors", "ports"} (same validator as the API)."""
    if len(request.body) > MAX_DOCUMENT_BYTES + 1024:
        return JsonResponse({"detail": "document too large", "errors": []}, status=413)
    try:
        body = bounded_loads(request.body)
    except ValueError:
        return JsonResponse({"detail": "not JSON", "errors": []}, status=400)
    return JsonResponse(check_spec(body.get("spec") if isinstance(body, dict) else None, explicit_workspace(request)))
