"""/api/mcp-servers/: the current workspace's MCP server connections, and each one's tools (asked through the SSRF
guard) for the editor, where they are enabled one by one."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.current import current_workspace
from workspaces.permissions import get_for

from ..engine.llm.urlguard import UnsafeModelURL, check_syntax
from ..engine.tools import credential_allows
from ..engine.tools.credentials import host_of
from ..mcp_servers import McpServerError, mcp_server_delete, mcp_server_set, mcp_server_tools
from ..models import Credential, McpServer
from ..services import ServiceError
from .credential_views import _workspace
from .serializers import StrictSerializer


class McpServerInSerializer(StrictSerializer):
    name = serializers.RegexField(r"^[A-Za-z0-9_.\-]{1,100}$")
    url = serializers.CharField(max_length=500)
    credential = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    auth_header = serializers.RegexField(r"^[A-Za-z0-9\-]{1,100}$", required=False, default="Authorization")
    auth_value = serializers.CharField(max_length=300, required=False, default="Bearer {{secret}}")

    def validate_url(self, value: str) -> str:
        try:
            check_syntax(value)
        except UnsafeModelURL as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def validate(self, attrs: dict) -> dict:
        workspace = self.context["workspace"]
        if attrs.get("credential"):
            credential = Credential.objects.filter(workspace=workspace, name=attrs["credential"]).first()
            if credential is None:
                raise serializers.ValidationError({"credential": f"no stored credential named {attrs['credential']!r}"})
            if not credential_allows(credential.allowed_hosts or [], attrs["url"]):
                raise serializers.ValidationError({"credential": (
                    f"credential {credential.name!r} may not be sent to {host_of(attrs['url'])!r}: add that host to the "
                    f"credential's allowed_hosts ({', '.join(credential.allowed_hosts or []) or 'none yet'}) first")})
        return attrs


class McpServerOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = McpServer
        fields = ["id", "name", "url", "credential", "auth_header", "created_at"]


class McpServerListView(APIView):
    @extend_schema(responses=McpServerOutSerializer(many=True))
    def get(self, request: Request) -> Response:
        workspace = _workspace(request, "edit")  # editors pick a server's tools; admins add servers
        servers = McpServer.objects.filter(workspace=workspace).order_by("name")
        return Response(McpServerOutSerializer(servers, many=True).data)

    @extend_schema(request=McpServerInSerializer, responses={201: McpServerOutSerializer})
    def post(self, request: Request) -> Response:
        workspace = _workspace(request, "connections")
        data = McpServerInSerializer(data=request.data, context={"workspace": workspace})
        data.is_valid(raise_exception=True)
        server, created = mcp_server_set(owner=request.user, workspace=workspace, **data.validated_data)
        return Response(McpServerOutSerializer(server).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class McpServerDetailView(APIView):
    def delete(self, request: Request, name: str) -> Response:
        server = get_for(request.user, McpServer, action="connections", workspace=current_workspace(request), name=name)
        mcp_server_delete(server=server, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class McpServerToolsView(APIView):
    """The server's tools and their argument schemas, asked now."""

    def get(self, request: Request, name: str) -> Response:
        server = get_for(request.user, McpServer, action="edit", workspace=current_workspace(request), name=name)
        try:
            tools = mcp_server_tools(server)
        except McpServerError as exc:
            raise ServiceError(str(exc), status=502) from exc
        return Response({"server": server.name, "tools": [t.to_dict() for t in tools]})
