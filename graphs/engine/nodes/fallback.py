"""fallback: ordered levels (provider/model/timeout/steps), tried in turn on error or timeout;
the answer says which level produced it (``quality``). With ``final_error`` the chain ends in a
structured error with suggestions instead of failing (the source document's Pattern 6)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from ..llm.base import LLMError
from ..schema import FieldSpec
from .base import NodeConfig, NodeContext, NodeFailure, NodeKind, Signature
from .llmjson import ModelSettings, Out, ask_json, user_prompt
from .registry import registry

EXTRA = {"quality", "level", "status", "message", "suggestions", "errors"}


class Level(ModelSettings):
    model_config = ConfigDict(extra="forbid")

    quality: str = Field("high", min_length=1, max_length=50, description="Reported when this level answers.")
    level_timeout_s: float = Field(30.0, gt=0, le=3600, description="Give up on this level after this many seconds.")
    max_steps: int = Field(2, ge=1, le=6, description="LLM attempts at this level (re-asks after malformed JSON).")
    system_prompt: str = Field("You are a helpful, precise assistant.", max_length=50_000)


def _levels() -> list[Level]:
    return [Level(model="gpt-4o", quality="high", level_timeout_s=30),
            Level(model="gpt-4o-mini", quality="medium", level_timeout_s=20),
            Level(model="llama3", quality="basic", level_timeout_s=20)]


class FallbackConfig(NodeConfig):
    signature: Signature = Field(default_factory=lambda: Signature(
        inputs=[{"name": "task", "type": "string", "description": "What to do"}],
        outputs=[{"name": "answer", "type": "string", "description": "The result"}],
    ))
    instructions: str = Field("", max_length=50_000, description="User prompt; {{field}} inserts an input.")
    levels: list[Level] = Field(default_factory=_levels, min_length=1, max_length=10,
                                description="Tried in order; a fallback chain needs at least one level.")
    timeout_s: float = Field(300.0, gt=0, le=24 * 3600, description="Fail the node after this many seconds (all levels).")
    final_error: bool = Field(True, description="After the last level, answer with a structured error instead of failing.")
    error_message: str = Field("All execution strategies failed", max_length=2000)
    suggestions: list[str] = Field(default_factory=lambda: [
        "Simplify the task into smaller steps", "Check API credentials and quotas", "Verify network connectivity"])

    @model_validator(mode="after")
    def _no_clash(self) -> FallbackConfig:
        clash = EXTRA & {f.name for f in self.signature.outputs}
        if clash:
            raise ValueError(f"signature: output names {', '.join(sorted(clash))} are reserved by the fallback chain")
        return self


@registry.register
class FallbackNode(NodeKind[FallbackConfig]):
    kind = "fallback"
    title = "Fallback chain"
    description = "Tries levels (model, timeout, steps) in order; reports which level answered as quality."
    category = "resilience"
    icon = "life-buoy"
    Config = FallbackConfig
    dynamic_inputs = "signature.inputs"
    dynamic_outputs = "signature.outputs"

    def inputs(self, config: FallbackConfig) -> dict[str, FieldSpec]:
        return config.signature.input_ports()

    def outputs(self, config: FallbackConfig) -> dict[str, FieldSpec]:
        return {**config.signature.output_ports(),
                "quality": FieldSpec(type="string", description="Quality of the level that answered ('none' on error)"),
                "level": FieldSpec(type="integer", description="1-based level that answered (0 on error)"),
                "status": FieldSpec(type="string", description="success or error"),
                "message": FieldSpec(type="string", description="What happened"),
                "suggestions": FieldSpec(type="list", description="What to try (on error)"),
                "errors": FieldSpec(type="list", description="Why each earlier level failed")}

    async def run(self, ctx: NodeContext, config: FallbackConfig, inputs: dict[str, Any]) -> dict[str, Any]:
        errors: list[dict[str, Any]] = ctx.state.scratch.setdefault("errors", [])
        fields = [Out(f.name, f.type, f.description, f.required) for f in config.signature.outputs]
        user = user_prompt(config.instructions, inputs)
        for i, level in enumerate(config.levels[len(errors):], start=len(errors) + 1):
            try:
                answer = await asyncio.wait_for(
                    ask_json(ctx, level, level.system_prompt, user, fields, retries=level.max_steps - 1, key=f"L{i}"),
                    level.level_timeout_s)
            except (TimeoutError, LLMError, NodeFailure) as exc:
                message = f"timed out after {level.level_timeout_s}s" if isinstance(exc, asyncio.TimeoutError) else str(exc)
                errors.append({"level": i, "model": level.model, "error": message})
                await ctx.emit("fallback", {"level": i, "model": level.model, "error": message,
                                            "next": i + 1 if i < len(config.levels) else None})
                await ctx.checkpoint()  # a resumed chain starts at the next level
                continue
            answer = {f.name: answer[f.name] for f in config.signature.outputs if f.name in answer}
            await ctx.emit("decision", {"level": i, "model": level.model, "quality": level.quality})
            return {**answer, "quality": level.quality, "level": i, "status": "success",
                    "message": f"answered by level {i} ({level.model})", "suggestions": [], "errors": list(errors)}
        if not config.final_error:
            raise NodeFailure(f"all {len(config.levels)} levels failed", {"errors": errors})
        await ctx.emit("decision", {"level": 0, "quality": "none", "status": "error"})
        return {"quality": "none", "level": 0, "status": "error", "message": config.error_message,
                "suggestions": list(config.suggestions), "errors": list(errors)}
