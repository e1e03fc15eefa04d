"""Pattern templates: list them, and create a graph from one (POST .../instantiate/)."""

from __future__ import annotations

from django.http import Http404
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.current import current_workspace
from workspaces.permissions import check

from .. import services
from ..pattern_templates import TEMPLATES, template_get


class InstantiateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)


def instantiate(*, user, slug: str, name: str | None = None, workspace=None):
    """Create a graph by ``user`` in ``workspace`` (their personal one when not given) from a
    template; returns its first GraphVersion."""
    template = template_get(slug)
    if template is None:
        raise Http404(f"no template {slug!r}")
    return services.graph_create(owner=user, name=name or template.name, description=template.description,
                                 spec=template.unplaced(), workspace=workspace)


class TemplateListView(APIView):
    def get(self, request: Request) -> Response:
        return Response([{**t.summary(), "spec": t.spec} for t in TEMPLATES])


class TemplateInstantiateView(APIView):
    def post(self, request: Request, slug: str) -> Response:
        data = InstantiateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = check(request.user, "edit", current_workspace(request))
        version = instantiate(user=request.user, slug=slug, name=data.validated_data.get("name"), workspace=workspace)
        graph = version.graph
        return Response({"id": graph.pk, "version": version.number, "name": graph.name, "description": graph.description,
                         "template": slug}, status=status.HTTP_201_CREATED)
