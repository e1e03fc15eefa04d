"""Pages: the header's workspace switcher, the list of one's workspaces, a workspace's members
(admins add people by username or email and change roles with htmx)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kaizen_web.htmx import HtmxHttpRequest

from . import services
from .current import choose, current_workspace
from .models import Membership, Role, Workspace
from .permissions import abilities, get_for, may


def context(request: HttpRequest) -> dict:
    """Template context: the user's workspaces and the current one (the header's switcher)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith(("/api/", "/admin/")):
        return {}
    current = current_workspace(request)
    memberships = list(Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name"))
    role = next((m.role for m in memberships if m.workspace_id == current.pk), None)
    # ``can``: what the user's role in the current workspace allows (pages of one object, a graph or
    # a run, replace it with their role in that object's workspace)
    return {"current_workspace": current, "workspace_memberships": memberships,
            "workspace_can_edit": role is not None and role >= Role.EDITOR, "can": abilities(role)}


@login_required
@require_POST
def switch(request: HtmxHttpRequest) -> HttpResponse:
    workspace = get_for(request.user, Workspace, request.POST.get("workspace", ""))
    choose(request, workspace)
    wanted = request.POST.get("next") or ""
    target = _list_of(wanted) if _local(wanted) else "/"
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


def _list_of(path: str) -> str:
    """Switching away from one object's page lands on the list it belongs to (the object's page
    would switch back to the object's workspace: see workspaces.current.follow)."""
    if re.match(r"^/runs/\d+", path):
        return "/runs/"
    if re.match(r"^/(graphs|memory)/\d+", path):
        return "/"
    return path


def _local(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//") and "\\" not in url


@login_required
@require_http_methods(["GET", "POST"])
def workspace_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        name = (request.POST.get("name") or "").strip()
        if not name:
            messages.error(request, "a workspace needs a name")
        else:
            workspace = services.workspace_create(user=request.user, name=name)
            choose(request, workspace)
            return redirect("workspace-members", pk=workspace.pk)
    memberships = Membership.objects.filter(user_id=request.user.pk or 0).select_related("workspace").order_by("workspace__name")
    return render(request, "workspaces/list.html", {"memberships": memberships})


def _members_panel(request: HtmxHttpRequest, workspace: Workspace, error: str = "", status: int = 200,
                   invite: Any = "") -> HttpResponse:
    members = workspace.memberships.select_related("user").order_by("-role", "user__username")
    return render(request, "workspaces/_members.html", {
        "workspace": workspace, "members": members, "roles": Role.choices, "error": error, "invite": invite,
        "is_admin": may(request.user, "members", workspace),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def members(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """GET: the members (any member sees them). POST: an admin adds one (``who``, ``role``)."""
    workspace = get_for(request.user, Workspace, pk, "view" if request.method == "GET" else "members")
    error = ""
    invite: dict[str, str] | None = None
    if request.method == "POST":
        try:
            if "invite_email" in request.POST:  # someone without an account: a one-time link to pass on
                membership, path = services.member_invite(workspace=workspace, by=request.user,
                                                          email=request.POST.get("invite_email", ""),
                                                          role=request.POST.get("role", Role.VIEWER))
                invite = {"link": request.build_absolute_uri(path), "username": membership.user.get_username(),
                          "email": membership.user.email}
            else:
                services.member_add(workspace=workspace, by=request.user, who=request.POST.get("who", ""),
                                    role=request.POST.get("role", Role.VIEWER))
        except services.MembershipError as exc:
            error = str(exc)
        if not request.htmx and not invite:
            if error:
                messages.error(request, error)
            return redirect("workspace-members", pk=pk)
    if request.htmx:
        return _members_panel(request, workspace, error, invite=invite)  # (htmx swaps 2xx only: errors come back as 200)
    members_ = workspace.memberships.select_related("user").order_by("-role", "user__username")
    return render(request, "workspaces/members.html", {
        "workspace": workspace, "members": members_, "roles": Role.choices, "error": error, "invite": invite,
        "is_admin": may(request.user, "members", workspace),
    })


@login_required
@require_POST
def member_action(request: HtmxHttpRequest, pk: int, member_id: int, action: str) -> HttpResponse:
    workspace = get_for(request.user, Workspace, pk, "members")
    membership = get_for(request.user, Membership.objects.filter(workspace=workspace), member_id, "members")
    error = ""
    try:
        if action == "role":
            services.member_set_role(membership=membership, by=request.user, role=request.POST.get("role", ""))
        elif action == "remove":
            services.member_remove(membership=membership, by=request.user)
        else:
            return HttpResponse("unknown action", status=404)
    except services.MembershipError as exc:
        error = str(exc)
    if request.htmx:
        return _members_panel(request, workspace, error)
    if error:
        messages.error(request, error)
    return redirect("workspace-members", pk=pk)
