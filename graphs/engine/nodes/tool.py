"""tool: call one tool with wired inputs, no LLM (as n8n's HTTP Request node is used).

An HTTP tool's parameters are the node's input ports; an MCP tool takes one ``arguments`` object.
The call is journaled like an agent's (replayed on resume, never made twice). Outputs: ``result``
(the answer parsed as JSON when it is JSON, else its text), ``text`` and ``status`` (ok or error);
with ``fail_on_error`` an error fails the node (so an error edge can take over). A dry run calls
nothing: the result is simulated from the tool's output schema (marked ``simulated`` in events).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from ..schema import FieldSpec
from ..tools import HttpToolConfig, McpToolsConfig, ToolSpec
from .base import NodeConfig, NodeContext, NodeFailure, NodeKind
from .registry import registry


class ToolNodeConfig(NodeConfig):
    tool: ToolSpec = Field(default_factory=lambda: HttpToolConfig(name="fetch", url="https://example.com/"),
                           description="The tool to call: an HTTP request, or one tool of an MCP server.")
    fail_on_error: bool = Field(True, description="An error answer (HTTP 4xx/5xx, a tool error) fails the node.")

    @model_validator(mode="after")
    def _one_mcp_tool(self) -> ToolNodeConfig:
        if isinstance(self.tool, McpToolsConfig) and len(self.tool.tools) != 1:
            raise ValueError("tool.tools: a Tool node calls exactly one MCP tool")
        return self


@registry.register
class ToolNode(NodeKind[ToolNodeConfig]):
    kind = "tool"
    title = "Tool"
    description = "Calls one tool (an HTTP request or an MCP server's tool) with wired inputs; no LLM."
    category = "tools"
    icon = "wrench"
    Config = ToolNodeConfig
    dynamic_inputs = "tool.parameters"

    def inputs(self, config: ToolNodeConfig) -> dict[str, FieldSpec]:
        if isinstance(config.tool, HttpToolConfig):
            return {p.name: FieldSpec(type=p.type, description=p.description, required=p.required)
                    for p in config.tool.parameters}
        return {"arguments": FieldSpec(type="object", description="The tool's arguments", required=False)}

    def outputs(self, config: ToolNodeConfig) -> dict[str, FieldSpec]:
        return {"result": FieldSpec(type="any", description="The answer (JSON when it is JSON)"),
                "text": FieldSpec(type="string", description="The answer as text"),
                "status": FieldSpec(type="string", description="ok or error")}

    async def run(self, ctx: NodeContext, config: ToolNodeConfig, inputs: dict[str, Any]) -> dict[str, Any]:
        tools = await ctx.tools([config.tool])
        arguments = inputs if isinstance(config.tool, HttpToolConfig) else dict(inputs.get("arguments") or {})
        result = await ctx.tool(tools[0], arguments, key="call")
        if result.status == "error" and config.fail_on_error:
            raise NodeFailure(f"tool {tools[0].name}: {result.error}", {"type": "tool_error", "http_status": result.http_status})
        return {"result": result.data if result.data is not None else result.content, "text": result.content,
                "status": result.status}
