"""/api/connections/: the request's workspace's model connections (the built-in default first)
and the models each offers. Editors list them (the inspector's dropdowns); admins define them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.current import current_workspace
from workspaces.permissions import check, get_for

from ..connections import ConnectionError_, connection_delete, connection_save, connections_offered, public
from ..models import Connection
from .serializers import StrictSerializer


class ConnectionInSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    base_url = serializers.CharField(max_length=500, required=False)
    credential = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    models = serializers.ListField(child=serializers.CharField(max_length=200), max_length=200, required=False)
    prices = serializers.DictField(child=serializers.ListField(child=serializers.FloatField(min_value=0, max_value=1e6),
                                                               min_length=2, max_length=2), required=False)


class ConnectionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    base_url = serializers.CharField()
    credential = serializers.CharField(allow_null=True)
    models = serializers.ListField(child=serializers.CharField())
    prices = serializers.DictField(child=serializers.ListField(child=serializers.FloatField()))
    builtin = serializers.BooleanField()
    simulated = serializers.BooleanField(help_text="The built-in default while the server has no model endpoint: "
                                                   "its agents answer from the simulated provider.")


def _refused(exc: ConnectionError_) -> Response:
    return Response({"detail": str(exc), "errors": [i.to_dict() for i in exc.issues]}, status=exc.status)


def _data(request: Request, partial: bool = False) -> dict:
    serializer = ConnectionInSerializer(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ConnectionListView(APIView):
    @extend_schema(responses=ConnectionOutSerializer(many=True))
    def get(self, request: Request) -> Response:
        workspace = check(request.user, "edit", current_workspace(request))
        return Response(connections_offered(workspace))

    @extend_schema(request=ConnectionInSerializer, responses={201: ConnectionOutSerializer})
    def post(self, request: Request) -> Response:
        workspace = check(request.user, "connections", current_workspace(request))
        data = _data(request)
        for field in ("name", "base_url"):
            if field not in data:
                return Response({"detail": f"{field}: required", "errors": [{"path": field, "message": "required"}]}, status=400)
        try:
            connection = connection_save(workspace=workspace, user=request.user, data=data)
        except ConnectionError_ as exc:
            return _refused(exc)
        return Response(public(connection), status=status.HTTP_201_CREATED)


class ConnectionDetailView(APIView):
    """One connection, by id (404 outside the caller's workspaces)."""

    @extend_schema(responses=ConnectionOutSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(public(get_for(request.user, Connection.objects.select_related("credential"), pk, "edit")))

    @extend_schema(request=ConnectionInSerializer, responses=ConnectionOutSerializer)
    def put(self, request: Request, pk: int) -> Response:
        connection = get_for(request.user, Connection.objects.select_related("credential", "workspace"), pk, "connections")
        try:
            connection = connection_save(workspace=connection.workspace, user=request.user, data=_data(request, partial=True),
                                         connection=connection)
        except ConnectionError_ as exc:
            return _refused(exc)
        return Response(public(connection))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        connection_delete(connection=get_for(request.user, Connection, pk, "connections"), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
