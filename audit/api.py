"""REST: a graph's hooks (/api/graphs/<id>/hooks/...) and the audit entries (/api/audit/entries/).

Errors use the project's one shape ({"detail", "errors"}) via graphs.api.errors, the
configured DRF exception handler. A hook's secret is returned once, in the create response.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from graphs.engine.hooks import HookEvent
from graphs.selectors import graph_or_404
from workspaces.current import explicit_workspace

from . import selectors, services
from .models import AuditEntry, GraphHook, HookDelivery
from .urlguard import UnsafeURL, check_webhook_url

HOOK_EVENTS = [e.value for e in HookEvent]


class HookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(HOOK_EVENTS), required=False)

    class Meta:
        model = GraphHook
        fields = ["id", "kind", "name", "url", "events", "threshold_ms", "enabled", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_url(self, value: str) -> str:
        if value:
            try:
                check_webhook_url(value)
            except UnsafeURL as exc:
                raise serializers.ValidationError(str(exc)) from None
        return value

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        url = attrs.get("url", getattr(self.instance, "url", ""))
        threshold = attrs.get("threshold_ms", getattr(self.instance, "threshold_ms", None))
        if kind == GraphHook.Kind.WEBHOOK and not url:
            raise serializers.ValidationError({"url": "a webhook needs a URL"})
        if kind == GraphHook.Kind.SLOW_NODE and not threshold:
            raise serializers.ValidationError({"threshold_ms": "a slow-node alert needs a threshold in ms"})
        return attrs


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = HookDelivery
        fields = ["id", "delivery_id", "event", "run_id", "attempt", "status_code", "ok", "error", "duration_ms",
                  "next_retry_s", "created_at"]


class EntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ["id", "timestamp", "actor_id", "actor_name", "object_type", "object_id", "graph_id", "run_id",
                  "node_id", "event", "status", "summary", "data"]


def _valid(request: Request, instance=None, partial=False) -> dict:
    serializer = HookSerializer(instance, data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class GraphHooksView(APIView):
    @extend_schema(responses=HookSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        return Response(HookSerializer(selectors.hooks_for_graph(graph_or_404(request.user, pk)), many=True).data)

    @extend_schema(request=HookSerializer, responses={201: HookSerializer})
    def post(self, request: Request, pk: int) -> Response:
        graph = graph_or_404(request.user, pk, "edit")
        hook = services.hook_create(graph=graph, user=request.user, **_valid(request))
        # the only response that ever carries the secret: the receiver needs it to verify signatures
        return Response({**HookSerializer(hook).data, "secret": hook.signing_secret}, status=status.HTTP_201_CREATED)


class GraphHookDetailView(APIView):
    def _hook(self, request: Request, pk: int, hook_id: int, action: str = "view") -> GraphHook:
        return get_object_or_404(GraphHook, pk=hook_id, graph=graph_or_404(request.user, pk, action))

    @extend_schema(responses=HookSerializer)
    def get(self, request: Request, pk: int, hook_id: int) -> Response:
        return Response(HookSerializer(self._hook(request, pk, hook_id)).data)

    @extend_schema(request=HookSerializer, responses=HookSerializer)
    def patch(self, request: Request, pk: int, hook_id: int) -> Response:
        hook = self._hook(request, pk, hook_id, "edit")
        hook = services.hook_update(hook=hook, user=request.user, **_valid(request, hook, partial=True))
        return Response(HookSerializer(hook).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int, hook_id: int) -> Response:
        services.hook_delete(hook=self._hook(request, pk, hook_id, "edit"), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GraphHookDeliveriesView(APIView):
    @extend_schema(responses=DeliverySerializer(many=True))
    def get(self, request: Request, pk: int, hook_id: int) -> Response:
        hook = get_object_or_404(GraphHook, pk=hook_id, graph=graph_or_404(request.user, pk))
        return Response(DeliverySerializer(hook.deliveries.all()[:200], many=True).data)


class AuditEntriesView(APIView):
    """The audit table's filters as query parameters (start, end, user, graph, run, node, event, status, q, page)."""

    @extend_schema(responses=EntrySerializer(many=True))
    def get(self, request: Request) -> Response:
        f = selectors.AuditFilter.from_params(request.query_params, default_show="all")  # (the page opens on people)
        qs = selectors.filter_entries(selectors.entries_visible(request.user, explicit_workspace(request)), f)
        try:
            page = int(request.query_params.get("page", 1))
            if not 1 <= page <= selectors.MAX_PAGE:
                raise ValueError
        except ValueError:
            message = f"an integer from 1 to {selectors.MAX_PAGE} expected"
            return Response({"detail": f"page: {message}", "errors": [{"path": "page", "message": message}]}, status=400)
        rows, has_next = selectors.entries_page(qs, page)
        return Response({"page": page, "has_next": has_next, "results": EntrySerializer(rows, many=True).data})
