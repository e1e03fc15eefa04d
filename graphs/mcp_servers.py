"""MCP server connections: a workspace's named servers (URL, auth header from a stored credential),
resolved by name for a run's tools, and listed for the editor through the SSRF guard.

Owned like credentials (graphs/credentials.py): by a workspace, looked up in the run's graph's workspace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction

from .credentials import credential_secret
from .engine.tools import McpEndpoint, McpToolInfo, credential_allows, list_tools
from .engine.tools.base import ToolConfigError
from .engine.tools.credentials import host_of
from .engine.tools.mcp import McpError
from .models import Credential, McpServer
from .signals import action as audit

SECRET = "{{secret}}"


class McpServerError(Exception):
    """The connection cannot be used (unknown credential, unreachable, refused address)."""


def endpoint_for(server: McpServer) -> McpEndpoint:
    """The server's URL and headers, its secret resolved (never returned to a browser)."""
    headers: dict[str, str] = {}
    secrets: list[str] = []
    if server.credential:
        credential = Credential.objects.filter(workspace_id=server.workspace_id, name=server.credential).first()
        secret = credential_secret(credential) if credential else None
        if credential is None or secret is None:
            raise McpServerError(f"MCP server {server.name!r}: unknown credential {server.credential!r}: store it on the "
                                 "Connections page (Stored keys) or POST /api/credentials/")
        if not credential_allows(credential.allowed_hosts or [], server.url):  # (nothing is sent)
            raise McpServerError(f"MCP server {server.name!r}: credential {server.credential!r} may not be sent to "
                                 f"{host_of(server.url)!r} (its allowed hosts: "
                                 f"{', '.join(credential.allowed_hosts or []) or 'none'})")
        value = server.auth_value or SECRET
        headers[server.auth_header or "Authorization"] = value.replace(SECRET, secret) if SECRET in value else secret
        secrets.append(secret)
    return McpEndpoint(server.name, server.url, headers, secrets)


def mcp_resolver(run: Any, recorder: Any) -> Callable[[str], Awaitable[McpEndpoint | None]]:
    """Async lookup of the run's workspace's MCP connections by name, on the run's database thread."""
    workspace_id = run.graph.workspace_id

    def lookup(name: str) -> McpEndpoint | None:
        server = McpServer.objects.filter(workspace_id=workspace_id, name=name).first()
        if server is None:
            return None
        try:
            return endpoint_for(server)
        except McpServerError as exc:
            raise ToolConfigError(str(exc)) from exc

    async def resolve(name: str) -> McpEndpoint | None:
        return await recorder.db(lookup, name)

    return resolve


@transaction.atomic
def mcp_server_set(*, owner: Any, name: str, url: str, credential: str = "", auth_header: str = "Authorization",
                   auth_value: str = "Bearer {{secret}}", workspace: Any = None) -> tuple[McpServer, bool]:
    """Add or change a server in ``workspace`` (``owner``'s personal one when not given)."""
    if workspace is None:
        from workspaces.services import ensure_personal_workspace

        workspace = ensure_personal_workspace(owner)
    server, created = McpServer.objects.select_for_update().update_or_create(
        workspace=workspace, name=name, defaults={"owner": owner, "url": url, "credential": credential,
                                                  "auth_header": auth_header, "auth_value": auth_value})
    audit("mcp_server.added" if created else "mcp_server.changed", actor=owner, object_type="mcp_server",
          object_id=server.pk, owner_id=owner.pk, workspace_id=workspace.pk, summary=f"{name} ({url})")
    return server, created


def mcp_server_delete(*, server: McpServer, user: Any) -> None:
    """Remove a server; agents naming it fail with "unknown MCP server" until one is added again."""
    audit("mcp_server.deleted", actor=user, object_type="mcp_server", object_id=server.pk, owner_id=user.pk,
          workspace_id=server.workspace_id, summary=f"{server.name} ({server.url})")
    server.delete()


def mcp_server_tools(server: McpServer) -> list[McpToolInfo]:
    """The server's tools with their schemas, asked now (through the SSRF guard)."""
    endpoint = endpoint_for(server)
    try:
        return async_to_sync(list_tools)(endpoint, allow_private=settings.KAIZEN_TOOLS_ALLOW_PRIVATE, timeout_s=20)
    except McpError as exc:
        message = str(exc)
        for secret in endpoint.secrets:
            message = message.replace(secret, "[redacted]")
        raise McpServerError(message) from exc
