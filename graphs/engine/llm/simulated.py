"""A provider that answers from the requested JSON Schema, with configurable latency.

Powers dry runs and the embedded default when no OpenAI endpoint is configured. Answers are
deterministic (derived from field names and the prompt) so runs are reproducible.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

from .base import LLMRequest, LLMResponse
from .tokens import estimate_tokens, messages_tokens


def _sample(schema: dict[str, Any], name: str, seed: str) -> Any:
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "string":
        return f"[simulated {name}] {seed[:80]}".strip()
    if kind == "integer":
        return int(hashlib.sha1(name.encode()).hexdigest()[:2], 16) % 10 + 1
    if kind == "number":
        return 0.8
    if kind == "boolean":
        return True
    if kind == "array":
        items = schema.get("items", {"type": "string"})
        return [_sample(items, f"{name}_{i}", seed) for i in range(2)]
    if kind == "object":
        props = schema.get("properties", {})
        return {key: _sample(sub, key, seed) for key, sub in props.items()}
    return f"[simulated {name}]"


class SimulatedProvider:
    name = "simulated"

    def __init__(self, latency_s: float = 0.0, embedding_dim: int = 16) -> None:
        self.latency_s = latency_s
        self.embedding_dim = embedding_dim

    async def complete(self, request: LLMRequest) -> LLMResponse:
        started = time.perf_counter()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if request.kind == "embedding":
            vectors = [self._embed(text) for text in request.input_texts]
            tokens = sum(estimate_tokens(t) for t in request.input_texts)
            return LLMResponse("", request.model, self.name, tokens, 0,
                               (time.perf_counter() - started) * 1000, embeddings=vectors)
        user = next((m["content"] for m in reversed(request.messages) if m["role"] == "user"), "")
        seed = " ".join(user.split())
        schema = request.response_schema or {"type": "object", "properties": {"answer": {"type": "string"}}}
        content = json.dumps(_sample(schema, "answer", seed))
        return LLMResponse(
            content=content,
            model=request.model,
            provider=self.name,
            prompt_tokens=messages_tokens(request.messages),
            completion_tokens=estimate_tokens(content),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def _embed(self, text: str) -> list[float]:
        # Bag of hashed words: similar texts get similar vectors, good enough for dry runs.
        vec = [0.0] * self.embedding_dim
        for word in text.lower().split():
            vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.embedding_dim] += 1.0
        return vec
