"""Conversation memory per session of the signed-in user: the tier holding it and access counts."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..memory_adapter import memory_sessions


class MemorySessionsView(APIView):
    def get(self, request: Request) -> Response:
        return Response(memory_sessions(request.user.pk))
