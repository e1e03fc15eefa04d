"""What every tool is: a name and a JSON Schema of its arguments the model sees, a call that
returns text for the model (and data for a Tool node), and whether repeating it is harmless.

Tools reach the world (HTTP endpoints, MCP servers), so their calls are journaled by the runtime
like LLM calls (runtime/context.py ``NodeRun.tool``): a recorded result is replayed on resume,
never fetched again. Nothing in a tool's config is executed: URL and body templates are string
substitution only (``{{param}}``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ..schema import PORT_PATTERN
from ..types import FieldType, json_schema_for
from .credentials import CredentialRefused, ToolCredentialResolver, credential_allows, host_of

TOOL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"  # what OpenAI accepts as a function name
TOOLS_PRIVATE_HINT = "the operator can allow private tool addresses with KAIZEN_TOOLS_ALLOW_PRIVATE=1"
PREVIEW_CHARS = 2000  # of a tool's result kept in its post_tool_call event


class ToolParameter(BaseModel):
    """One argument the model passes to a tool."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=PORT_PATTERN, description="Argument name (letters, digits, _).")
    type: FieldType = "string"
    description: str = Field("", max_length=2000)
    required: bool = True


def parameters_schema(parameters: list[ToolParameter]) -> dict[str, Any]:
    """The JSON Schema of a tool's arguments object."""
    props = {p.name: {**json_schema_for(p.type), **({"description": p.description} if p.description else {})}
             for p in parameters}
    return {"type": "object", "properties": props, "required": [p.name for p in parameters if p.required]}


@dataclass
class ToolResult:
    """What a call gave: ``content`` is the text the model reads (trimmed, secrets redacted),
    ``data`` the parsed value (JSON when the answer was JSON) for a Tool node's output."""

    content: str
    status: str = "ok"  # ok | error | skipped
    bytes: int = 0
    error: str | None = None
    data: Any = None
    truncated: bool = False
    http_status: int | None = None
    simulated: bool = False  # a dry run's answer: nothing was fetched

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolResult:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    @classmethod
    def failed(cls, message: str, **extra: Any) -> ToolResult:
        return cls(content=f"error: {message}", status="error", error=message, **extra)


class ToolConfigError(ValueError):
    """A tool that cannot be used as configured (unknown server, tool not offered, bad URL)."""


@dataclass
class McpEndpoint:
    """An MCP server connection as the run driver resolved it: URL and headers (secrets included)."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # header values that must never reach an event


McpResolver = Callable[[str], Awaitable[McpEndpoint | None]]


@dataclass
class ToolEnv:
    """What tools get from the run: stored credentials by name (each secret used is remembered, so
    that it is redacted from results), MCP connections by name, and the SSRF guard's setting."""

    resolve_credential: ToolCredentialResolver | None = None
    resolve_mcp: McpResolver | None = None
    allow_private: bool = False
    secrets: set[str] = field(default_factory=set)

    async def secret(self, name: str, url: str, tool: str) -> str:
        """The key of credential ``name`` for a request of ``tool`` to ``url``. CredentialRefused
        when the credential may not go to that host (nothing is sent); ToolConfigError if unknown."""
        stored = await self.resolve_credential(name) if self.resolve_credential else None
        if stored is None:
            raise ToolConfigError(f"unknown credential {name!r}: store it on the Connections page (Stored keys) "
                                  "or POST /api/credentials/")
        if not credential_allows(stored.allowed_hosts, url):
            raise CredentialRefused(tool, name, host_of(url), stored.allowed_hosts)
        self.secrets.add(stored.secret)
        return stored.secret

    async def mcp(self, name: str) -> McpEndpoint:
        endpoint = await self.resolve_mcp(name) if self.resolve_mcp else None
        if endpoint is None:
            raise ToolConfigError(f"unknown MCP server {name!r}: add it on the Connections page (MCP servers) "
                                  "or POST /api/mcp-servers/")
        self.secrets.update(s for s in endpoint.secrets if s)
        return endpoint

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "[redacted]")
        return text


class Tool(Protocol):
    """A callable tool, ready for a model (``openai_tool``) and for the journal."""

    name: str
    description: str
    kind: str  # "http" or "mcp"
    idempotent: bool  # may a call that was in flight when a worker died simply be made again?
    cost_usd: float  # what one call costs (counted into the run's cost and budgets)
    output_schema: dict[str, Any] | None  # the answer's JSON Schema, when declared (dry runs simulate it)

    def schema(self) -> dict[str, Any]:
        """JSON Schema of the arguments object."""

    def describe_call(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """What the call will do, for its pre_tool_call event (no secrets): method and URL, server."""

    async def call(self, arguments: dict[str, Any], env: ToolEnv) -> ToolResult:
        """Make the call. Failures the model should hear about come back as ``ToolResult.failed``."""


def openai_tool(tool: Tool) -> dict[str, Any]:
    """The ``tools`` entry the model sees."""
    return {"type": "function", "function": {"name": tool.name, "description": tool.description[:1024],
                                             "parameters": tool.schema()}}


def call_digest(tool: str, arguments: dict[str, Any]) -> str:
    """Identifies a call in the journal: the same tool with the same arguments."""
    key = json.dumps([tool, arguments], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def check_arguments(tool: Tool, arguments: dict[str, Any]) -> str:
    """"" when ``arguments`` has every required argument of ``tool``, else what is missing."""
    schema = tool.schema()
    missing = [name for name in schema.get("required", []) if name not in arguments]
    return f"missing argument(s): {', '.join(missing)}" if missing else ""


def as_data(text: str) -> Any:
    """The text as JSON when it is JSON, else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def substitute(template: str, render: Callable[[str], str]) -> str:
    """``{{name}}`` replaced by ``render(name)``: text substitution, never evaluated."""
    return _PLACEHOLDER.sub(lambda m: render(m.group(1)), template)


def whole_placeholder(value: str) -> str | None:
    """The name when ``value`` is exactly one placeholder (``"{{limit}}"``), else None."""
    match = _PLACEHOLDER.fullmatch(value.strip())
    return match.group(1) if match else None


class ToolInterrupted(Exception):
    """A tool call that is not idempotent was in flight when the run stopped (a worker died): it is
    not repeated blindly. The run stops ``interrupted`` naming the call; Resume retries or skips it."""

    def __init__(self, node: str, tool: str, key: str, arguments: dict[str, Any]) -> None:
        super().__init__(f"the call {tool}({json.dumps(arguments, ensure_ascii=False)[:300]}) of node {node} was in flight "
                         "when the run stopped, and it is not idempotent: resume to retry it or skip it")
        self.node, self.tool, self.key, self.arguments = node, tool, key, arguments


def raise_tool_interruption(error: dict[str, Any] | None) -> None:
    """A nested run (for-each item, guarded subgraph) stopped during a tool call: so does this node."""
    if error and error.get("type") == "tool_interrupted":
        raise ToolInterrupted(error.get("node", ""), error.get("tool", ""), error.get("key", ""), error.get("arguments") or {})
