"""Tools an agent (or a Tool node) may call: HTTP requests and MCP servers' tools.

``ToolSpec`` is the config of one entry of an agent's ``tools`` list (a pydantic union on ``type``);
``build_tools`` turns specs into callable tools for one node run (an MCP entry lists its server).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .base import (
    McpEndpoint,
    McpResolver,
    Tool,
    ToolConfigError,
    ToolEnv,
    ToolParameter,
    ToolResult,
    call_digest,
    check_arguments,
    openai_tool,
)
from .credentials import CredentialRefused, StoredCredential, ToolCredentialResolver, credential_allows, host_rule_problem
from .http import HttpHeader, HttpTool, HttpToolConfig
from .mcp import McpLister, McpTool, McpToolInfo, McpToolsConfig, list_tools, mcp_tools

ToolSpec = Annotated[HttpToolConfig | McpToolsConfig, Field(discriminator="type")]


async def build_tools(specs: list[Any], env: ToolEnv, lister: McpLister | None = None) -> list[Tool]:
    """Callable tools for ``specs``; ToolConfigError if one cannot be used (or two share a name),
    CredentialRefused if an HTTP tool would send a credential outside its allowed hosts. ``lister``
    lists an MCP server's tools (the runtime journals it); by default the server is asked."""
    tools: list[Tool] = []
    for spec in specs:
        if isinstance(spec, HttpToolConfig):
            http = HttpTool(spec)
            await http.check_credentials(env)
            tools.append(http)
        else:
            tools.extend(await mcp_tools(spec, env, lister))
    names = [t.name for t in tools]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ToolConfigError(f"two tools are named {', '.join(duplicated)}")
    return tools


__all__ = [
    "CredentialRefused", "McpLister", "StoredCredential", "ToolCredentialResolver", "credential_allows", "host_rule_problem",
    "HttpHeader", "HttpTool", "HttpToolConfig", "McpEndpoint", "McpResolver", "McpTool", "McpToolInfo", "McpToolsConfig",
    "Tool", "ToolConfigError", "ToolEnv", "ToolParameter", "ToolResult", "ToolSpec", "build_tools", "call_digest",
    "check_arguments", "list_tools", "mcp_tools", "openai_tool",
]
