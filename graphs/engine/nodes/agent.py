"""agent: an LLM call with a typed signature; its outputs are the answer's JSON Schema (sent as
structured outputs where the model supports them), validated, and re-asked when malformed
(nodes/llmjson.py's loop, shared with the pattern kinds)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..memory.tiers import TierPolicy, default_memory
from ..schema import PORT_PATTERN, FieldSpec
from ..tools import ToolSpec
from .base import NodeConfig, NodeContext, NodeKind, Signature
from .llmjson import (
    BASE_URL_HELP,
    CONNECTION_HELP,
    CONNECTION_WIDGET,
    DEADLINE_HELP,
    MODEL_WIDGET,
    OUTPUT_MODE_HELP,
    Out,
    ask,
    user_prompt,
)
from .registry import registry


class MemoryAttachment(BaseModel):
    """Conversation memory for an agent: earlier turns of the session come before the prompt."""

    model_config = ConfigDict(extra="forbid")

    session_input: str = Field("session_id", pattern=PORT_PATTERN, description="Input port carrying the session id.")
    max_turns: int = Field(100, ge=1, le=10_000, description="Turns kept per session.")
    hot_promotion_threshold: int = Field(5, ge=1, le=10_000, description="Accesses within the window -> hot tier.")
    warm_promotion_threshold: int = Field(2, ge=1, le=10_000, description="Accesses within the window -> warm tier.")
    access_window_seconds: float = Field(3600, gt=0, description="Accesses further apart restart the count.")
    demote_after_seconds: float = Field(86400, gt=0, description="Idle this long -> one tier down.")

    def policy(self) -> TierPolicy:
        return TierPolicy(self.hot_promotion_threshold, self.warm_promotion_threshold, self.access_window_seconds,
                          self.demote_after_seconds, self.max_turns)


class AgentConfig(NodeConfig):
    signature: Signature = Field(
        default_factory=lambda: Signature(
            inputs=[{"name": "task", "type": "string", "description": "What to do"}],
            outputs=[{"name": "answer", "type": "string", "description": "The result"}],
        )
    )
    provider: Literal["default", "openai", "simulated"] = "default"
    connection: str | None = Field(None, max_length=100, description=CONNECTION_HELP, json_schema_extra=CONNECTION_WIDGET)
    model: str = Field("gpt-4o-mini", min_length=1, max_length=200, json_schema_extra=MODEL_WIDGET)
    temperature: float = Field(0.2, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0, le=200_000)
    system_prompt: str = Field("You are a helpful, precise assistant.", max_length=50_000)
    instructions: str = Field("", max_length=50_000, description="User prompt; {{field}} inserts an input.")
    base_url: str | None = Field(None, max_length=500, description=BASE_URL_HELP)
    credential: str | None = Field(None, max_length=100, description="Name of a stored API key (with base_url).")
    max_format_retries: int = Field(2, ge=0, le=5, description="Re-asks after malformed JSON.")
    output_mode: Literal["auto", "json_schema", "json_object", "text"] = Field("auto", description=OUTPUT_MODE_HELP)
    llm_timeout_s: float = Field(60.0, gt=0, le=3600, description="Timeout of one LLM call.")
    llm_deadline_s: float | None = Field(None, gt=0, le=24 * 3600, description=DEADLINE_HELP)
    memory: MemoryAttachment | None = Field(None, description="Optional conversation memory, keyed by a session id input.")
    tools: list[ToolSpec] = Field(default_factory=list, max_length=32, json_schema_extra={"x-kaizen-widget": "tools"},
                                  description="Tools the model may call: HTTP requests (JSON), MCP servers' tools (tick them below).")
    max_tool_rounds: int = Field(5, ge=1, le=50, description="Rounds of tool calls before the model must answer.")

    @model_validator(mode="after")
    def _memory_port(self) -> AgentConfig:
        if self.memory and any(f.name == self.memory.session_input for f in self.signature.inputs):
            raise ValueError(f"memory.session_input: {self.memory.session_input!r} is already a signature input")
        return self


def output_fields(sig: Signature) -> list[Out]:
    """The answer's fields (and so its JSON Schema, llmjson.answer_schema): the signature's outputs."""
    return [Out(f.name, f.type, f.description, f.required) for f in sig.outputs]


@registry.register
class AgentNode(NodeKind[AgentConfig]):
    kind = "agent"
    title = "Agent"
    description = "Calls an LLM with a typed signature: inputs in, validated JSON outputs out."
    category = "agents"
    icon = "bot"
    Config = AgentConfig
    dynamic_inputs = "signature.inputs"
    dynamic_outputs = "signature.outputs"

    def inputs(self, config: AgentConfig) -> dict[str, FieldSpec]:
        ports = config.signature.input_ports()
        if config.memory:
            ports[config.memory.session_input] = FieldSpec(type="string", description="Conversation session id")
        return ports

    def outputs(self, config: AgentConfig) -> dict[str, FieldSpec]:
        return config.signature.output_ports()

    async def run(self, ctx: NodeContext, config: AgentConfig, inputs: dict[str, Any]) -> dict[str, Any]:
        session = inputs.get(config.memory.session_input) if config.memory else None
        if config.memory:
            inputs = {k: v for k, v in inputs.items() if k != config.memory.session_input}
        prompt = user_prompt(config.instructions, inputs)
        history = await _load_memory(ctx, config.memory, session) if config.memory and session else []
        tools = await ctx.tools(config.tools) if config.tools else None  # (a dry run simulates them)
        await ctx.emit("pre_agent_loop", {"model": config.model, "provider": config.provider,
                                          **({"tools": [t.name for t in tools]} if tools else {})})
        answer = await ask(ctx, config, config.system_prompt, prompt, output_fields(config.signature),
                           retries=config.max_format_retries, max_tokens=config.max_tokens, history=history,
                           name=ctx.node_id.rsplit("/", 1)[-1], tools=tools, max_tool_rounds=config.max_tool_rounds)
        if config.memory and session:
            await _save_memory(ctx, config.memory, session, prompt, answer.response.content)
        await ctx.emit("post_agent_loop", {"attempts": answer.attempts, "model": answer.response.model})
        return {f.name: answer.data[f.name] for f in config.signature.outputs if f.name in answer.data}


def _store(ctx: NodeContext) -> Any:
    return ctx.memory or default_memory()


async def _load_memory(ctx: NodeContext, attachment: MemoryAttachment, session: str) -> list[dict[str, str]]:
    """The session's earlier turns as chat messages; read once per node run (kept in scratch, so a
    resumed node sends the same prompt and replays its recorded answer)."""
    scratch = ctx.state.scratch
    if "memory_turns" not in scratch:
        view = await _store(ctx).load(ctx.owner, session, attachment.policy())
        scratch["memory_turns"] = view.turns
        await ctx.emit("memory", {"session_id": session, "action": "load", "served_from": view.served_from,
                                  "tier": view.tier, "access_count": view.access_count, "turns": len(view.turns)})
    history: list[dict[str, str]] = []
    for turn in scratch["memory_turns"]:
        history += [{"role": "user", "content": turn.get("user", "")}, {"role": "assistant", "content": turn.get("assistant", "")}]
    return history


async def _save_memory(ctx: NodeContext, attachment: MemoryAttachment, session: str, user: str, answer: str) -> None:
    if ctx.state.scratch.get("memory_saved"):
        return
    record = await _store(ctx).append(ctx.owner, session, [{"user": user, "assistant": answer}],
                                      attachment.max_turns)
    ctx.state.scratch["memory_saved"] = True
    await ctx.checkpoint()
    await ctx.emit("memory", {"session_id": session, "action": "save", "turns": len(record["turns"]), "tier": record["tier"]})
