"""The Connections page's MCP servers: the servers agents' MCP tools name (``research-docs`` in the
"Research with tools" template), listed for editors (name, URL, key name, auth header; never a secret).

Admins add or change one (``form=mcp-server``: checked by the API's own ``McpServerInSerializer``,
refusals next to their field in the API's path style, written and audited by ``mcp_server_set``) and
delete one (``form=delete-mcp-server``, audited by ``mcp_server_delete``). ``?tools=<id>`` asks the
server for its tools now, through the API's ``mcp_server_tools`` (the SSRF guard, secrets redacted)."""

from __future__ import annotations

from typing import Any

from graphs.api.errors import flatten_errors
from graphs.api.mcp_views import McpServerInSerializer
from graphs.mcp_servers import SECRET, McpServerError, mcp_server_delete, mcp_server_set, mcp_server_tools
from graphs.models import McpServer
from kaizen_web.htmx import HtmxHttpRequest

from .models import Workspace
from .permissions import get_for

FORMS = ("mcp-server", "delete-mcp-server")
FIELDS = ("name", "url", "credential", "auth_header", "auth_value")
DEFAULTS = {"name": "", "url": "", "credential": "", "auth_header": "Authorization", "auth_value": f"Bearer {SECRET}"}


def mcp_post(request: HtmxHttpRequest, workspace: Workspace, form: str) -> dict[str, Any] | None:
    """An admin's write; the add form's refusal ({"fields": {path: message}, "other": [...], "value": typed})."""
    if form == "delete-mcp-server":
        server = get_for(request.user, McpServer.objects.filter(workspace=workspace), request.POST.get("id", "0"), "connections")
        mcp_server_delete(server=server, user=request.user)
        return None
    typed = {f: request.POST.get(f, "").strip() for f in FIELDS}
    # a blank header or template means the API's default, as when the API's field is left out
    data = {f: v for f, v in typed.items() if v or f not in ("auth_header", "auth_value")}
    checked = McpServerInSerializer(data=data, context={"workspace": workspace})
    if not checked.is_valid():
        fields: dict[str, str] = {}
        other: list[str] = []
        for error in flatten_errors(checked.errors):
            field = error["path"].split(".")[0].split("[")[0]
            line = f"{error['path']}: {error['message']}" if error["path"] else error["message"]
            if field in FIELDS and field not in fields:
                fields[field] = line
            else:
                other.append(line)
        return {"fields": fields, "other": other, "value": typed}
    mcp_server_set(owner=request.user, workspace=workspace, **checked.validated_data)
    return None


def mcp_tools(request: HtmxHttpRequest, workspace: Workspace) -> dict[str, Any] | None:
    """``?tools=<id>``: that server's tools (name, description) or why it could not be asked."""
    if "tools" not in request.GET:
        return None
    server = get_for(request.user, McpServer.objects.filter(workspace=workspace), request.GET.get("tools") or "0", "edit")
    try:
        return {"id": server.pk, "tools": mcp_server_tools(server), "error": ""}
    except McpServerError as exc:
        return {"id": server.pk, "tools": [], "error": str(exc)}


def mcp_context(workspace: Workspace, refused: dict[str, Any] | None = None,
                tools: dict[str, Any] | None = None) -> dict[str, Any]:
    """The MCP panel's context (the keys for the add form's select come from the keys panel's)."""
    return {"mcp_servers": McpServer.objects.filter(workspace=workspace).order_by("name"),
            "mcp_refused": refused, "mcp_tools": tools, "mcp_form": refused["value"] if refused else DEFAULTS}
