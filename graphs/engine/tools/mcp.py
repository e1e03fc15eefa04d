"""MCP servers over streamable HTTP, through the official ``mcp`` SDK (no stdio: nothing is ever
started on our machines). A server is a named connection the run driver resolves (URL, auth header
from a stored credential); an agent enables some of its tools by name. Every connection goes
through the SSRF guard's transport (public addresses only unless the operator allows private ones).

One short session per listing and per call: a resumed or parallel call needs no shared state.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel, ConfigDict, Field

from ..llm.fencing import FencedTransport
from ..llm.urlguard import GuardedTransport, UnsafeModelURL, acheck_model_url
from .base import TOOLS_PRIVATE_HINT, McpEndpoint, ToolConfigError, ToolEnv, ToolResult, as_data


class McpToolsConfig(BaseModel):
    """Tools of an MCP server connection, enabled one by one."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["mcp"] = "mcp"
    server: str = Field(min_length=1, max_length=100, description="Name of an MCP server connection.")
    tools: list[str] = Field(min_length=1, max_length=64, description="The server's tools the model may call.")
    idempotent_tools: list[str] | None = Field(
        None, description="Tools whose interrupted calls may simply be repeated. Empty: those the server marks "
                          "read-only or idempotent.")
    timeout_s: float = Field(30.0, gt=0, le=600, description="Time for one call, connection included.")
    max_response_bytes: int = Field(200_000, ge=100, le=5_000_000, description="Longer results are cut here.")
    cost_usd: float = Field(0.0, ge=0, le=1000, description="What one call costs (USD): counted into the run's cost and budgets.")


@dataclass
class McpToolInfo:
    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool = False
    idempotent: bool = False

    output_schema: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema,
                "read_only": self.read_only, "idempotent": self.idempotent, "output_schema": self.output_schema}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> McpToolInfo:
        return cls(data["name"], data.get("description", ""), data.get("input_schema") or {}, bool(data.get("read_only")),
                   bool(data.get("idempotent")), data.get("output_schema"))


class McpError(Exception):
    """The server could not be reached or refused the protocol (the message says which)."""


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _client(endpoint: McpEndpoint, allow_private: bool, timeout_s: float) -> tuple[httpx2.AsyncClient, Client]:
    guarded = GuardedTransport(allow_private=allow_private, hint=TOOLS_PRIVATE_HINT, what="MCP server")
    # every request of the session (discovery, listing, the call) passes the node's fencing check as
    # it leaves (llm/fencing.py; the SDK sends from tasks in the caller's context). A lost claim
    # finishes the engine wherever the SDK turns the error into its own.
    http = httpx2.AsyncClient(transport=FencedTransport(guarded), headers=endpoint.headers, timeout=timeout_s)
    return http, Client(streamable_http_client(endpoint.url, http_client=http), cache=None, read_timeout_seconds=timeout_s)


async def _session(endpoint: McpEndpoint, allow_private: bool, timeout_s: float, work: Any) -> Any:
    try:
        await acheck_model_url(endpoint.url, allow_private, TOOLS_PRIVATE_HINT)
    except UnsafeModelURL as exc:
        raise McpError(f"MCP server {endpoint.name!r}: {exc}") from exc
    http, client = _client(endpoint, allow_private, timeout_s)
    try:
        async with asyncio.timeout(timeout_s):
            async with client:
                return await work(client)
    except TimeoutError as exc:
        raise McpError(f"MCP server {endpoint.name!r} did not answer within {timeout_s}s") from exc
    except Exception as exc:  # the SDK wraps transport errors in task-group exception groups
        cause = _root_cause(exc)
        if isinstance(cause, McpError):
            raise cause from exc
        raise McpError(f"MCP server {endpoint.name!r}: {type(cause).__name__}: {cause}") from exc
    finally:
        await http.aclose()


async def list_tools(endpoint: McpEndpoint, *, allow_private: bool, timeout_s: float = 30.0) -> list[McpToolInfo]:
    """The server's tools with their argument schemas (every page)."""

    async def work(client: Client) -> list[McpToolInfo]:
        found: list[McpToolInfo] = []
        cursor: str | None = None
        for _page in range(50):
            listing = await client.list_tools(cursor=cursor)
            for tool in listing.tools:
                notes = tool.annotations
                output = getattr(tool, "output_schema", None)
                found.append(McpToolInfo(tool.name, tool.description or "", dict(tool.input_schema),
                                         bool(notes and notes.read_only_hint), bool(notes and notes.idempotent_hint),
                                         dict(output) if output else None))
            cursor = listing.next_cursor
            if not cursor:
                break
        return found

    result: list[McpToolInfo] = await _session(endpoint, allow_private, timeout_s, work)
    return result


def _content_text(result: Any) -> str:
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and hasattr(block.resource, "text"):
            parts.append(block.resource.text)
        else:
            parts.append(f"[{kind} content]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


class McpTool:
    kind = "mcp"

    def __init__(self, config: McpToolsConfig, info: McpToolInfo) -> None:
        self.config, self.info = config, info
        self.name = info.name
        self.cost_usd = config.cost_usd
        self.output_schema = info.output_schema
        self.description = info.description or info.name
        if config.idempotent_tools is not None:
            self.idempotent = info.name in config.idempotent_tools
        else:
            self.idempotent = info.read_only or info.idempotent

    def schema(self) -> dict[str, Any]:
        schema = dict(self.info.input_schema or {})
        schema.setdefault("type", "object")
        schema.setdefault("properties", {})
        return schema

    def describe_call(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"server": self.config.server}

    async def call(self, arguments: dict[str, Any], env: ToolEnv) -> ToolResult:
        config = self.config
        try:
            endpoint = await env.mcp(config.server)
        except ToolConfigError as exc:
            return ToolResult.failed(str(exc))

        async def work(client: Client) -> Any:
            return await client.call_tool(self.name, arguments, read_timeout_seconds=config.timeout_s)

        try:
            result = await _session(endpoint, env.allow_private, config.timeout_s, work)
        except McpError as exc:
            return ToolResult.failed(env.redact(str(exc)))
        text = env.redact(_content_text(result))
        raw = text.encode()
        truncated = len(raw) > config.max_response_bytes
        if truncated:
            text = raw[:config.max_response_bytes].decode("utf-8", errors="ignore") + f"\n[cut at {config.max_response_bytes} bytes]"
        if result.is_error:
            return ToolResult(content=f"error: {text[:2000]}", status="error", error=text[:300], bytes=len(raw))
        data = result.structured_content if result.structured_content is not None else as_data(text)
        return ToolResult(content=text, bytes=len(raw), data=data, truncated=truncated)


# a server's tools for a config (the runtime journals the listing: a resumed run reads it back)
McpLister = Callable[[McpToolsConfig], Awaitable[list[McpToolInfo]]]


async def ask_server(config: McpToolsConfig, env: ToolEnv) -> list[McpToolInfo]:
    """The server's tools, asked now (ToolConfigError when it cannot be reached)."""
    endpoint = await env.mcp(config.server)
    try:
        return await list_tools(endpoint, allow_private=env.allow_private, timeout_s=config.timeout_s)
    except McpError as exc:
        raise ToolConfigError(env.redact(str(exc))) from exc


async def mcp_tools(config: McpToolsConfig, env: ToolEnv, lister: McpLister | None = None) -> list[McpTool]:
    """The enabled tools of a connection, with the schemas the server gives them (or gave them,
    when ``lister`` replays a journaled listing)."""
    listing = await lister(config) if lister is not None else await ask_server(config, env)
    offered = {t.name: t for t in listing}
    missing = [name for name in config.tools if name not in offered]
    if missing:
        raise ToolConfigError(f"MCP server {config.server!r} does not offer {', '.join(missing)} "
                              f"(it offers {', '.join(sorted(offered)) or 'nothing'})")
    return [McpTool(config, offered[name]) for name in config.tools]
