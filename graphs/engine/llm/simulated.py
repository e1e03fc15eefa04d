"""A provider that answers from the requested JSON Schema, with configurable latency.

Powers dry runs and the embedded default when no OpenAI endpoint is configured. Answers are
deterministic (derived from field names, the prompt and the request's ``sample_seed``) so runs
are reproducible, and they honour the schema as a structured-outputs model would: types, required
and nullable fields, item shapes and ``minItems``, numeric bounds, and enums. An enum value is a
seeded choice, so a dry run of an ``llm`` router takes a valid branch and consensus voters (each
seeded by run and voter) can disagree; "none" (a router's way to decline) is picked only when it
is the sole value. A top-level list has two entries (at least ``minItems``), a nested one the
fewest allowed: an invented reference such as a plan step's dependency would point at nothing.
With a token sink (``request.on_text``) the answer is streamed in pieces over the latency. In a dry
run (``simulate_tool_calls``) a model offered tools first calls each of them once, with arguments
of their schemas (the runtime answers with simulated results: nothing is fetched).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

from .base import LLMRequest, LLMResponse
from .tokens import estimate_tokens, messages_tokens

DECLINE = "none"
STREAM_PIECE = 8  # characters per streamed piece (with a token sink and some latency)


def _pick(values: list[Any], key: str) -> Any:
    choices = [v for v in values if v is not None and v != DECLINE] or values
    return choices[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(choices)]


def _sample(schema: dict[str, Any], name: str, seed: str, choice: str, depth: int = 0, suffix: str = "") -> Any:
    """A value for ``schema``: texts quote the prompt (``seed``), enum picks follow ``choice``."""
    kind = schema.get("type")
    if isinstance(kind, list):  # a nullable field: its value, not null
        kind = next((k for k in kind if k != "null"), None)
    if "enum" in schema and schema["enum"]:
        return _pick(list(schema["enum"]), f"{choice}\x00{name}")
    if kind == "string":
        return f"[simulated {name}{suffix}] {seed[:80]}".strip()
    if kind == "integer":
        value = int(hashlib.sha1(name.encode()).hexdigest()[:2], 16) % 10 + 1
        return max(schema.get("minimum", value), min(schema.get("maximum", value), value))
    if kind == "number":
        return max(schema.get("minimum", 0.8), min(schema.get("maximum", 0.8), 0.8))
    if kind == "boolean":
        return True
    if kind == "array":
        items = schema.get("items", {"type": "string"})
        count = max(schema.get("minItems", 0), 2 if depth == 0 else 0)
        return [_sample(items, name, seed, choice, depth + 1, f"{suffix} {i + 1}") for i in range(count)]
    if kind == "object":
        props = schema.get("properties", {})
        return {key: _sample(sub, key, seed, choice, depth, suffix) for key, sub in props.items()}
    return f"[simulated {name}{suffix}]"


def sample_value(schema: dict[str, Any], name: str, seed: str) -> Any:
    """A deterministic value of ``schema`` (what a simulated model or tool would give)."""
    return _sample(schema, name, seed, seed)


def _tool_calls(request: LLMRequest, seed: str) -> list[dict[str, Any]] | None:
    """A dry run's first round: every offered tool called once, with arguments of its schema."""
    if not (request.simulate_tool_calls and request.tools) or any(m.get("role") == "tool" for m in request.messages):
        return None
    calls = []
    for i, entry in enumerate(request.tools):
        function = entry.get("function", {})
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        arguments = sample_value({**schema, "type": "object"}, function.get("name", "tool"), seed)
        calls.append({"id": f"sim-{i}", "name": function.get("name", ""), "arguments": arguments})
    return calls


class SimulatedProvider:
    name = "simulated"

    def __init__(self, latency_s: float = 0.0, embedding_dim: int = 16) -> None:
        self.latency_s = latency_s
        self.embedding_dim = embedding_dim

    async def complete(self, request: LLMRequest) -> LLMResponse:
        started = time.perf_counter()
        streams = request.on_text is not None and request.kind == "chat" and self.latency_s > 0
        if self.latency_s and not streams:
            await asyncio.sleep(self.latency_s)
        if request.kind == "embedding":
            vectors = [self._embed(text) for text in request.input_texts]
            tokens = sum(estimate_tokens(t) for t in request.input_texts)
            return LLMResponse("", request.model, self.name, tokens, 0,
                               (time.perf_counter() - started) * 1000, embeddings=vectors)
        user = next((m["content"] for m in reversed(request.messages) if m["role"] == "user"), "") or ""
        seed = " ".join(user.split())
        schema = request.response_schema or {"type": "object", "properties": {"answer": {"type": "string"}}}
        choice = seed if request.sample_seed is None else request.sample_seed
        tool_calls = _tool_calls(request, seed)
        if tool_calls:
            return LLMResponse(content="", model=request.model, provider=self.name,
                               prompt_tokens=messages_tokens(request.messages),
                               completion_tokens=estimate_tokens(json.dumps(tool_calls)),
                               latency_ms=(time.perf_counter() - started) * 1000, tool_calls=tool_calls)
        content = json.dumps(_sample(schema, "answer", seed, choice))
        if streams:  # a dry run's answer grows on the run page as a model's would, over the same latency
            await self._stream(content, request)
        return LLMResponse(
            content=content,
            model=request.model,
            provider=self.name,
            prompt_tokens=messages_tokens(request.messages),
            completion_tokens=estimate_tokens(content),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def _stream(self, content: str, request: LLMRequest) -> None:
        assert request.on_text is not None
        pieces = [content[i:i + STREAM_PIECE] for i in range(0, len(content), STREAM_PIECE)] or [""]
        pause = self.latency_s / len(pieces)
        for piece in pieces:
            await asyncio.sleep(pause)
            request.on_text(piece)

    def _embed(self, text: str) -> list[float]:
        # Bag of hashed words: similar texts get similar vectors, good enough for dry runs.
        vec = [0.0] * self.embedding_dim
        for word in text.lower().split():
            vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.embedding_dim] += 1.0
        return vec
