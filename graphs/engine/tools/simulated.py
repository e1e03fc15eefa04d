"""Tools in a dry run: nothing is fetched, no server is asked. A call answers with a value of the
tool's declared output schema (an HTTP tool's ``output_schema``, an MCP tool's ``outputSchema``
when its listing was journaled), else a placeholder object; every such result says it is simulated.
An MCP server is not listed: its enabled tools take any arguments object."""

from __future__ import annotations

import json
from typing import Any

from ..llm.simulated import sample_value
from .base import Tool, ToolResult
from .mcp import McpToolInfo, McpToolsConfig

SIMULATED_NOTE = "simulated (dry run): no request was made"


def simulated_listing(config: McpToolsConfig) -> list[McpToolInfo]:
    """The enabled tools of an MCP server as a dry run knows them: names only, any arguments."""
    return [McpToolInfo(name, f"{name} (dry run: the server {config.server!r} was not asked)",
                        {"type": "object", "properties": {}}, read_only=True) for name in config.tools]


def simulated_result(tool: Tool, arguments: dict[str, Any]) -> ToolResult:
    """A deterministic answer of ``tool``'s output schema for these arguments (no network)."""
    seed = json.dumps(arguments, sort_keys=True, ensure_ascii=False)[:200]
    schema = tool.output_schema
    if schema:
        data = sample_value(schema, tool.name, seed)
    else:
        data = {"simulated": True, "tool": tool.name, "arguments": arguments, "note": SIMULATED_NOTE}
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return ToolResult(content=text, status="ok", bytes=len(text.encode()), data=data, simulated=True)
