"""Conversation memory per session of the request's workspace: the tier holding it and access counts."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.current import current_workspace

from ..memory_adapter import memory_sessions


class MemorySessionsView(APIView):
    def get(self, request: Request) -> Response:
        return Response(memory_sessions(current_workspace(request).pk))
