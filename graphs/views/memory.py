"""Conversation memory page: per session, the tier holding it and its access counts."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.dateparse import parse_datetime

from workspaces.current import current_workspace

from ..memory_adapter import memory_sessions


@login_required
def memory_list(request: HttpRequest) -> HttpResponse:
    sessions = memory_sessions(current_workspace(request).pk)
    for s in sessions:  # (the API's ISO strings; the page says "3 min ago")
        s["last_access"] = parse_datetime(s["last_access_at"]) if s["last_access_at"] else None
    warm = "Redis" if settings.REDIS_URL else "the server's cache"
    return render(request, "graphs/memory.html", {"sessions": sessions, "warm": warm})
