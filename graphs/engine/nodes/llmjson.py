"""Shared by the LLM kinds: model settings as a config block, and one JSON question to an LLM
that is asked again (bounded) when the answer is malformed, then fails with the raw answer.

The wanted fields become the answer's JSON Schema (types, required, enums, item shapes), which the
provider sends as structured outputs where the model supports them (llm/structured.py); the keys
are named in the system prompt too, for JSON mode and plain-text models. The answer is validated
and re-asked for whichever way it was requested: the agent kind and the pattern kinds share this
one loop.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ..llm.base import LLMRequest, LLMResponse, OutputMode
from ..types import json_schema_for, value_matches
from .base import NodeContext, NodeFailure

DEADLINE_HELP = ("Time for one LLM call with its retries (rate limits, 5xx, timeouts). Empty: llm_timeout_s, "
                 "so a hung model fails at once (and a fallback takes over); never beyond the node's timeout_s.")
OUTPUT_MODE_HELP = ("How the answer's JSON Schema is sent: json_schema (structured outputs), json_object (JSON mode) "
                    "or text (prompt only); auto: the server's setting (KAIZEN_LLM_OUTPUT_MODE).")
Check = Callable[[dict[str, Any]], str]  # returns "" when the answer is acceptable, else what is wrong


@dataclass(frozen=True)
class Out:
    """One field of the answer. ``schema`` adds JSON Schema to the type's (enum, items, minItems)."""

    name: str
    type: str
    description: str = ""
    required: bool = True
    schema: dict[str, Any] | None = None


Fields = Sequence[Out | tuple[str, str, str]]  # a tuple is (name, type, description), required


CONNECTION_HELP = "A model connection of the workspace (its endpoint and key); empty: the server's default."
BASE_URL_HELP = "Old style: an OpenAI-compatible endpoint typed in (needs a credential); prefer a connection."
# The editor's inspector offers the workspace's connections, and the chosen connection's models.
CONNECTION_WIDGET: dict[str, Any] = {"x-kaizen-widget": "connection"}
MODEL_WIDGET: dict[str, Any] = {"x-kaizen-widget": "model"}


class ModelSettings(BaseModel):
    """Which model answers, and how."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["default", "openai", "simulated"] = "default"
    connection: str | None = Field(None, max_length=100, description=CONNECTION_HELP, json_schema_extra=CONNECTION_WIDGET)
    model: str = Field("gpt-4o-mini", min_length=1, max_length=200, description="Model name.", json_schema_extra=MODEL_WIDGET)
    temperature: float = Field(0.2, ge=0, le=2)
    base_url: str | None = Field(None, max_length=500, description=BASE_URL_HELP)
    credential: str | None = Field(None, max_length=100, description="Name of a stored API key (with base_url).")
    llm_timeout_s: float = Field(60.0, gt=0, le=3600, description="Timeout of one LLM call.")
    llm_deadline_s: float | None = Field(None, gt=0, le=24 * 3600, description=DEADLINE_HELP)
    output_mode: Literal["auto", "json_schema", "json_object", "text"] = Field("auto", description=OUTPUT_MODE_HELP)


class Settings(Protocol):
    """What a question needs to know about its model: ModelSettings, or a kind's config with the same fields."""

    # (read-only: a config's narrower Literal types satisfy it)
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def temperature(self) -> float: ...
    @property
    def connection(self) -> str | None: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def credential(self) -> str | None: ...
    @property
    def llm_timeout_s(self) -> float: ...
    @property
    def llm_deadline_s(self) -> float | None: ...
    @property
    def output_mode(self) -> OutputMode: ...


def text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def user_prompt(instructions: str, inputs: dict[str, Any]) -> str:
    """The instructions with {{field}} replaced by inputs (never evaluated), or the inputs listed."""
    if instructions:
        return _PLACEHOLDER.sub(lambda m: text(inputs.get(m.group(1), "")), instructions)
    return "\n".join(f"{k}: {text(v)}" for k, v in inputs.items()) or "(no inputs)"


def outs(fields: Fields) -> list[Out]:
    return [f if isinstance(f, Out) else Out(*f) for f in fields]


def answer_schema(fields: Fields) -> dict[str, Any]:
    """The JSON Schema of an answer with ``fields``."""
    wanted = outs(fields)
    props = {f.name: {**json_schema_for(f.type), **(f.schema or {}), "description": f.description} for f in wanted}
    return {"type": "object", "properties": props, "required": [f.name for f in wanted if f.required]}


def system_prompt(persona: str, fields: Fields) -> str:
    keys = "\n".join(f"- {f.name} ({f.type}): {f.description}" for f in outs(fields))
    return f"{persona}\n\nReply with a single JSON object and nothing else. Its keys:\n{keys}"


def load_json_object(content: str) -> tuple[dict[str, Any] | None, str]:
    """The JSON object in an LLM answer (a ```json fence is tolerated), or (None, what is wrong)."""
    raw = content.strip()
    if raw.startswith("```"):
        raw = raw.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at char {exc.pos})"
    if not isinstance(data, dict):
        return None, "the answer must be a JSON object"
    return data, ""


def parse_json(content: str, fields: Fields, check: Check | None = None) -> tuple[dict[str, Any] | None, str]:
    """The answer's object (an optional field that is absent or null is left out), or (None, why not)."""
    data, problem = load_json_object(content)
    if data is None:
        return None, problem
    for f in outs(fields):
        if data.get(f.name) is None and not f.required:
            data.pop(f.name, None)  # (strict structured outputs send an optional field as null)
            continue
        if f.name not in data:
            return None, f"missing field {f.name!r}"
        if not value_matches(data[f.name], f.type):
            return None, f"field {f.name!r} must be of type {f.type}"
    problem = check(data) if check else ""
    return (None, problem) if problem else (data, "")


@dataclass
class Answer:
    data: dict[str, Any]
    response: LLMResponse
    attempts: int


async def ask(ctx: NodeContext, settings: Settings, persona: str, user: str, fields: Fields, *,
              check: Check | None = None, retries: int = 2, key: str | None = None, model: str | None = None,
              temperature: float | None = None, max_tokens: int | None = None,
              history: list[dict[str, str]] | None = None, name: str = "answer",
              seed: str | None = None) -> Answer:
    """Ask for a JSON object with ``fields``; re-ask up to ``retries`` times, then NodeFailure.
    ``key`` names the calls (needed when a node makes calls in parallel); ``history`` goes between
    the system prompt and the question; ``name`` names the schema; ``seed`` picks a simulated
    model's answer (dry runs)."""
    messages = [{"role": "system", "content": system_prompt(persona, fields)}, *(history or []),
                {"role": "user", "content": user}]
    schema = answer_schema(fields)
    problem, content = "", ""
    for attempt in range(retries + 1):
        response = await ctx.llm(
            LLMRequest(model=model or settings.model, messages=messages,
                       temperature=settings.temperature if temperature is None else temperature,
                       max_tokens=max_tokens, response_schema=schema, schema_name=name,
                       output_mode=settings.output_mode, sample_seed=seed,
                       base_url=settings.base_url, credential=settings.credential, connection=settings.connection,
                       timeout_s=settings.llm_timeout_s, deadline_s=settings.llm_deadline_s,
                       provider=settings.provider),
            key=f"{key}/{attempt}" if key else None,
        )
        content = response.content
        data, problem = parse_json(content, fields, check)
        if data is not None:
            return Answer(data, response, attempt + 1)
        await ctx.emit("llm_retry", {"attempt": attempt + 1, "key": key, "problem": problem, "raw": content[:20000]})
        messages = messages + [
            {"role": "assistant", "content": content},
            {"role": "user", "content": f"That answer was invalid: {problem}. Reply again with only the JSON object."},
        ]
    raise NodeFailure(f"malformed answer after {retries + 1} attempts: {problem}",
                      {"raw": content[:100000], "problem": problem, "key": key})


async def ask_json(ctx: NodeContext, settings: Settings, persona: str, user: str, fields: Fields,
                   **options: Any) -> dict[str, Any]:
    """``ask`` for just the answer's object."""
    return (await ask(ctx, settings, persona, user, fields, **options)).data


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
