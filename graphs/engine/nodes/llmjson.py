"""Shared by the pattern kinds: model settings as a config block, and one JSON question to an
LLM that is asked again (bounded) when the answer is malformed, then fails with the raw answer."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..llm.base import LLMRequest
from ..types import json_schema_for, value_matches
from .base import NodeContext, NodeFailure

DEADLINE_HELP = ("Time for one LLM call with its retries (rate limits, 5xx, timeouts). Empty: llm_timeout_s, "
                 "so a hung model fails at once (and a fallback takes over); never beyond the node's timeout_s.")
Fields = list[tuple[str, str, str]]  # (name, type, description)
Check = Callable[[dict[str, Any]], str]  # returns "" when the answer is acceptable, else what is wrong


class ModelSettings(BaseModel):
    """Which model answers, and how."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["default", "openai", "simulated"] = "default"
    model: str = Field("gpt-4o-mini", min_length=1, max_length=200, description="Model name.")
    temperature: float = Field(0.2, ge=0, le=2)
    base_url: str | None = Field(None, max_length=500, description="Override the OpenAI-compatible endpoint.")
    credential: str | None = Field(None, max_length=100, description="Name of a stored API key.")
    llm_timeout_s: float = Field(60.0, gt=0, le=3600, description="Timeout of one LLM call.")
    llm_deadline_s: float | None = Field(None, gt=0, le=24 * 3600, description=DEADLINE_HELP)


def text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def user_prompt(instructions: str, inputs: dict[str, Any]) -> str:
    """The instructions with {{field}} replaced by inputs (never evaluated), or the inputs listed."""
    if instructions:
        return _PLACEHOLDER.sub(lambda m: text(inputs.get(m.group(1), "")), instructions)
    return "\n".join(f"{k}: {text(v)}" for k, v in inputs.items()) or "(no inputs)"


def system_prompt(persona: str, fields: Fields) -> str:
    keys = "\n".join(f"- {name} ({ftype}): {desc}" for name, ftype, desc in fields)
    return f"{persona}\n\nReply with a single JSON object and nothing else. Its keys:\n{keys}"


def load_json_object(content: str) -> tuple[dict[str, Any] | None, str]:
    """The JSON object in an LLM answer (a ```json fence is tolerated), or (None, what is wrong)."""
    raw = content.strip()
    if raw.startswith("```"):
        raw = raw.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return None, f"not valid JSON ({exc.msg} at char {exc.pos})"
    if not isinstance(data, dict):
        return None, "the answer must be a JSON object"
    return data, ""


def parse_json(content: str, fields: Fields, check: Check | None = None) -> tuple[dict[str, Any] | None, str]:
    data, problem = load_json_object(content)
    if data is None:
        return None, problem
    for name, ftype, _ in fields:
        if name not in data:
            return None, f"missing field {name!r}"
        if ftype == "number" and isinstance(data[name], int) and not isinstance(data[name], bool):
            continue
        if not value_matches(data[name], ftype):
            return None, f"field {name!r} must be of type {ftype}"
    problem = check(data) if check else ""
    return (None, problem) if problem else (data, "")


async def ask_json(ctx: NodeContext, settings: ModelSettings, persona: str, user: str, fields: Fields, *,
                   check: Check | None = None, retries: int = 2, key: str | None = None,
                   model: str | None = None, temperature: float | None = None) -> dict[str, Any]:
    """Ask for a JSON object with ``fields``; re-ask up to ``retries`` times, then NodeFailure.
    ``key`` names the calls (needed when a node makes calls in parallel)."""
    messages = [{"role": "system", "content": system_prompt(persona, fields)}, {"role": "user", "content": user}]
    schema = {"type": "object", "properties": {n: {**json_schema_for(t), "description": d} for n, t, d in fields}, "required": [n for n, _t, _d in fields]}
    problem, content = "", ""
    for attempt in range(retries + 1):
        response = await ctx.llm(
            LLMRequest(model=model or settings.model, messages=messages,
                       temperature=settings.temperature if temperature is None else temperature,
                       response_schema=schema, base_url=settings.base_url, credential=settings.credential,
                       timeout_s=settings.llm_timeout_s, deadline_s=settings.llm_deadline_s,
                       provider=settings.provider),
            key=f"{key}/{attempt}" if key else None,
        )
        content = response.content
        data, problem = parse_json(content, fields, check)
        if data is not None:
            return data
        await ctx.emit("llm_retry", {"attempt": attempt + 1, "key": key, "problem": problem, "raw": content[:20000]})
        messages = messages + [
            {"role": "assistant", "content": content},
            {"role": "user", "content": f"That answer was invalid: {problem}. Reply again with only the JSON object."},
        ]
    raise NodeFailure(f"malformed answer after {retries + 1} attempts: {problem}",
                      {"raw": content[:100000], "problem": problem, "key": key})


async def gather_all(coros: list[Awaitable[Any]]) -> list[Any]:
    """Run in parallel; if one fails, cancel the others before raising (no orphaned LLM calls)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
