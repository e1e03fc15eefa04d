"""What every node kind provides: a pydantic config, its ports, and an async ``run``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..llm.base import LLMRequest, LLMResponse
from ..schema import PORT_PATTERN, FieldSpec
from ..types import FieldType

if TYPE_CHECKING:
    from ..state import RunResult
    from ..tools import Tool, ToolResult


class NodeConfig(BaseModel):
    """Options every node kind has."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(120.0, gt=0, le=24 * 3600, description="Fail the node after this many seconds.")


class SignatureField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=PORT_PATTERN, description="Port name (letters, digits, _).")
    type: FieldType = "string"
    description: str = Field("", max_length=2000)
    required: bool = True


def unique_names(fields: list[SignatureField]) -> list[SignatureField]:
    seen: set[str] = set()
    for f in fields:
        if f.name in seen:
            raise ValueError(f"duplicate field name {f.name!r}")
        seen.add(f.name)
    return fields


def input_ports(fields: list[SignatureField]) -> dict[str, FieldSpec]:
    """Input ports from signature fields (an agent's signature, what a person sees at a human node)."""
    return {f.name: FieldSpec(type=f.type, description=f.description, required=f.required) for f in fields}


class Signature(BaseModel):
    """Typed input and output fields of an agent (DSPy-style signature)."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[SignatureField] = Field(default_factory=list, max_length=64)
    outputs: list[SignatureField] = Field(default_factory=list, min_length=1, max_length=64)

    _unique_in = field_validator("inputs")(classmethod(lambda cls, v: unique_names(v)))
    _unique_out = field_validator("outputs")(classmethod(lambda cls, v: unique_names(v)))

    def input_ports(self) -> dict[str, FieldSpec]:
        return input_ports(self.inputs)

    def output_ports(self) -> dict[str, FieldSpec]:
        return {f.name: FieldSpec(type=f.type, description=f.description) for f in self.outputs}


class NodeContext(Protocol):
    """What the runtime gives a node while it runs (runtime/context.py's NodeRun): everything
    a kind may use. A kind needs nothing else from the engine."""

    run_id: str
    node_id: str
    state: Any  # the NodeState; ``state.scratch`` is the kind's own resumable progress

    async def llm(self, request: LLMRequest, key: str | None = None) -> LLMResponse:
        """Call an LLM once (retried while transient); recorded, replayed on resume, priced and
        budgeted. ``key`` names the call, so that calls made in parallel replay correctly."""

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        """Record a hook event for this node."""

    async def tools(self, specs: list[Any]) -> list[Tool]:
        """Callable tools for tool configs (tools.ToolSpec); NodeFailure if one cannot be used."""

    async def tool(self, tool: Tool, arguments: dict[str, Any], key: str) -> ToolResult:
        """Call a tool once: journaled (replayed on resume, never made twice), with events."""

    @property
    def dry_run(self) -> bool:
        """The run is a dry run: models are simulated and no tool touches the world."""

    async def checkpoint(self) -> None:
        """Persist the node's progress kept in ``state.scratch`` (resumable multi-step nodes)."""

    async def settle(self) -> None:
        """Wait until every answer journaled so far in the run is durable."""

    async def subgraph(self, document: Any, inputs: dict[str, Any], *, key: str, budget_usd: float | None = None,
                       budget_tokens: int | None = None, model_override: str | None = None) -> RunResult:
        """Run an inline graph as a child run (namespaced ``<node>/<key>/...``; budgets nest)."""

    def human_answer(self) -> dict[str, Any] | None:
        """The answer a person gave this node (human nodes), or None: then the node raises
        ``WaitForHuman`` and the run parks until someone answers."""

    @property
    def memory(self) -> Any:
        """The run's conversation MemoryStore (ports.MemoryStore), or None."""

    @property
    def owner(self) -> Any:
        """Whose memory the run uses."""


class NodeFailure(Exception):
    """A node failed in a way its error edges may handle; ``data`` lands in the event."""

    def __init__(self, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.data = data or {}


class WaitForHuman(Exception):
    """A human node has no answer yet: it settles as ``waiting`` (its dependents wait), the
    branches not behind it run on, and then the run parks. ``request`` (the form, the question,
    the timeout) lands in the node's ``node_waiting`` event and its checkpoint."""

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__("waiting for a person to answer")
        self.request = request


ConfigT = TypeVar("ConfigT", bound="NodeConfig")


class NodeKind(Generic[ConfigT]):
    """A node kind, generic over its config: ``class JoinKind(NodeKind[JoinConfig])`` with
    ``Config = JoinConfig``, so ``inputs``/``outputs``/``run`` take the kind's own config type."""

    kind: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    category: ClassVar[str] = "agents"
    icon: ClassVar[str] = "box"
    Config: ClassVar[type[NodeConfig]] = NodeConfig
    # Config paths whose list of SignatureField-like items become ports (for the editor).
    dynamic_inputs: ClassVar[str | None] = None
    dynamic_outputs: ClassVar[str | None] = None

    def parse(self, config: dict[str, Any]) -> ConfigT:
        # (a ClassVar cannot name the type variable: ``Config`` is the class that ConfigT names)
        return cast(ConfigT, self.Config.model_validate(config))

    def inputs(self, config: ConfigT) -> dict[str, FieldSpec]:
        return {}

    def outputs(self, config: ConfigT) -> dict[str, FieldSpec]:
        return {}

    async def run(self, ctx: NodeContext, config: ConfigT, inputs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The editor's view of the kind: config JSON Schema and how ports are derived."""
        static = cls()
        try:
            default_cfg = static.parse({})
            static_in = {k: v.model_dump() for k, v in static.inputs(default_cfg).items()}
            static_out = {k: v.model_dump() for k, v in static.outputs(default_cfg).items()}
        except Exception:  # config has required fields: ports come from dynamic paths only
            static_in, static_out = {}, {}
        return {
            "kind": cls.kind,
            "title": cls.title,
            "description": cls.description,
            "category": cls.category,
            "icon": cls.icon,
            "config_schema": cls.Config.model_json_schema(),
            "ports": {
                "inputs": static_in,
                "outputs": static_out,
                "dynamic_inputs": cls.dynamic_inputs,
                "dynamic_outputs": cls.dynamic_outputs,
            },
        }
