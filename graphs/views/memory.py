"""Conversation memory page: per session, the tier holding it and its access counts."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from workspaces.current import current_workspace

from ..memory_adapter import memory_sessions


@login_required
def memory_list(request: HttpRequest) -> HttpResponse:
    return render(request, "graphs/memory.html", {"sessions": memory_sessions(current_workspace(request).pk)})
