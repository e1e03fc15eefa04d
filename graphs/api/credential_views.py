"""/api/credentials/: names and hints only; the key goes in, never out."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.current import current_workspace
from workspaces.permissions import get_for, may

from ..connections import ConnectionError_, credential_delete
from ..credentials import CredentialHostsInvalid, clean_allowed_hosts, credential_hosts_set, credential_set
from ..models import Credential
from .serializers import StrictSerializer


def _hosts_field() -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=300), max_length=50, required=False,
                                 help_text="Where tools may send the key: hosts (api.example.com), *.example.com or "
                                           "origins (https://api.example.com:8443). None: no tool may send it.")


def _valid_hosts(value: list[str]) -> list[str]:
    try:
        return clean_allowed_hosts(value)
    except CredentialHostsInvalid as exc:
        raise serializers.ValidationError({str(exc.index): [exc.problem]}) from None


class CredentialInSerializer(StrictSerializer):
    name = serializers.RegexField(r"^[A-Za-z0-9_.\-]{1,100}$")
    api_key = serializers.CharField(min_length=1, max_length=4000, trim_whitespace=True, write_only=True)
    base_url = serializers.URLField(required=False, allow_blank=True, default="")
    allowed_hosts = _hosts_field()

    def validate_allowed_hosts(self, value: list[str]) -> list[str]:
        return _valid_hosts(value)


class CredentialRotateSerializer(StrictSerializer):
    """A new key, new hosts, or both."""

    api_key = serializers.CharField(min_length=1, max_length=4000, write_only=True, required=False)
    allowed_hosts = _hosts_field()

    def validate_allowed_hosts(self, value: list[str]) -> list[str]:
        return _valid_hosts(value)

    def validate(self, attrs: dict) -> dict:
        if "api_key" not in attrs and "allowed_hosts" not in attrs:
            raise serializers.ValidationError({"api_key": ["give a new api_key, allowed_hosts, or both"]})
        return attrs


class CredentialOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Credential
        fields = ["name", "hint", "base_url", "allowed_hosts", "created_at", "rotated_at"]


def _workspace(request: Request, action: str):
    """The request's workspace (X-Kaizen-Workspace or ?workspace=, else the session's), if the
    caller's role there allows ``action``."""
    workspace = current_workspace(request)
    if not may(request.user, action, workspace):
        raise PermissionDenied(f"your role in workspace {workspace.pk} may not do this")
    return workspace


class CredentialListView(APIView):
    """The current workspace's credentials (editors list them to pick one; admins store them)."""

    @extend_schema(responses=CredentialOutSerializer(many=True))
    def get(self, request: Request) -> Response:
        workspace = _workspace(request, "edit")
        return Response(CredentialOutSerializer(Credential.objects.filter(workspace=workspace).order_by("name"), many=True).data)

    @extend_schema(request=CredentialInSerializer, responses={201: CredentialOutSerializer})
    def post(self, request: Request) -> Response:
        workspace = _workspace(request, "credentials")
        data = CredentialInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credential, created = credential_set(owner=request.user, workspace=workspace, **data.validated_data)
        return Response(CredentialOutSerializer(credential).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CredentialDetailView(APIView):
    @extend_schema(request=CredentialRotateSerializer, responses=CredentialOutSerializer)
    def put(self, request: Request, name: str) -> Response:
        workspace = current_workspace(request)
        credential = get_for(request.user, Credential, action="credentials", workspace=workspace, name=name)
        data = CredentialRotateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hosts = data.validated_data.get("allowed_hosts")
        if "api_key" in data.validated_data:
            credential, _ = credential_set(owner=request.user, workspace=workspace, name=name,
                                           api_key=data.validated_data["api_key"], allowed_hosts=hosts)
        else:
            credential = credential_hosts_set(credential=credential, user=request.user, allowed_hosts=hosts or [])
        return Response(CredentialOutSerializer(credential).data)

    def delete(self, request: Request, name: str) -> Response:
        workspace = current_workspace(request)
        credential = get_for(request.user, Credential, action="credentials", workspace=workspace, name=name)
        try:
            credential_delete(credential=credential, user=request.user)
        except ConnectionError_ as exc:
            return Response({"detail": str(exc), "errors": [i.to_dict() for i in exc.issues]}, status=exc.status)
        return Response(status=status.HTTP_204_NO_CONTENT)
