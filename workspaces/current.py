"""Which workspace a request works in.

Pages: the one chosen in the header's switcher (kept in the session), else the user's personal
workspace. API: the ``X-Kaizen-Workspace`` header or the ``?workspace=`` query parameter (an id)
when given, else the same as pages. It decides where new objects go and which workspace a list
shows; an object's own endpoints always act in the object's own workspace.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404

from .models import Workspace
from .permissions import workspace_ids

SESSION_KEY = "kaizen_workspace"
HEADER = "X-Kaizen-Workspace"
PARAM = "workspace"


def _asked(request: Any) -> str | None:
    value = request.headers.get(HEADER) or request.GET.get(PARAM)
    return value.strip() if isinstance(value, str) and value.strip() else None


def explicit_workspace(request: Any) -> Workspace | None:
    """The workspace the request names (header or parameter), 404 if it is not one of the user's."""
    asked = _asked(request)
    if asked is None:
        return None
    if not asked.isdigit() or len(asked) > 18:
        raise Http404("No Workspace matches the given query.")
    workspace = Workspace.objects.filter(pk=int(asked), pk__in=workspace_ids(request.user)).first()
    if workspace is None:
        raise Http404("No Workspace matches the given query.")
    return workspace


def current_workspace(request: Any) -> Workspace:
    """The request's workspace (see the module's text); the user must be signed in."""
    workspace = explicit_workspace(request)
    if workspace is not None:
        return workspace
    session = getattr(request, "session", None)
    chosen = session.get(SESSION_KEY) if session is not None else None
    if isinstance(chosen, int):
        workspace = Workspace.objects.filter(pk=chosen, pk__in=workspace_ids(request.user)).first()
        if workspace is not None:
            return workspace
    from .services import ensure_personal_workspace

    return ensure_personal_workspace(request.user)


def choose(request: Any, workspace: Workspace) -> None:
    request.session[SESSION_KEY] = workspace.pk


def follow(request: Any, workspace_id: int | None) -> None:
    """An object's page (a graph, a run, the editor) was opened, its access already checked: the
    header's switcher, the role it shows and the lists behind Graphs and Runs now follow that
    object's workspace, as following a link into a team's space does elsewhere."""
    session = getattr(request, "session", None)
    if session is not None and workspace_id is not None and session.get(SESSION_KEY) != workspace_id:
        session[SESSION_KEY] = workspace_id
