"""'New from template' on the graph list: a server-rendered POST form per template."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from workspaces.current import current_workspace
from workspaces.permissions import check

from ..api.template_views import instantiate


@login_required
@require_POST
def template_new(request: HttpRequest, slug: str) -> HttpResponse:
    workspace = check(request.user, "edit", current_workspace(request))
    version = instantiate(user=request.user, slug=slug, workspace=workspace)
    messages.success(request, f"Created {version.graph.name!r} from a template.")
    return redirect("graph-detail", version.graph.pk)
