"""The NodeContext a running node sees: journaled, priced, budgeted LLM calls and events."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from ..llm.base import LLMRequest, LLMResponse
from ..nodes.base import NodeFailure
from .state import NodeState

if TYPE_CHECKING:
    from .engine import Engine


class BudgetExceeded(Exception):
    def __init__(self, spent: float, budget: float) -> None:
        super().__init__(f"budget of ${budget:.4f} reached (spent ${spent:.4f})")
        self.spent, self.budget = spent, budget


def request_digest(request: LLMRequest) -> str:
    key = json.dumps([request.model, request.messages, request.temperature, request.kind, request.input_texts],
                     sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class NodeRun:
    """One execution of one node. Call i replays journal entry i when it matches the request."""

    def __init__(self, engine: "Engine", node_id: str, state: NodeState) -> None:
        self.engine = engine
        self.run_id = engine.run_id
        self.node_id = node_id
        self.state = state
        self._call_index = 0

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        await self.engine.emit(event, self.node_id, data)

    async def checkpoint(self) -> None:
        """Persist this node's progress (``state.scratch``) now; a resumed node sees it again."""
        await self.engine.checkpoints.save(self.run_id, self.node_id, self.state.to_dict())

    async def llm(self, request: LLMRequest) -> LLMResponse:
        index, self._call_index = self._call_index, self._call_index + 1
        digest = request_digest(request)
        journal = self.state.llm_calls
        if index < len(journal):
            if journal[index]["digest"] == digest:
                await self.emit("post_llm_call", {"index": index, "replayed": True, "model": request.model})
                return LLMResponse.from_dict(journal[index]["response"])
            del journal[index:]  # the node asked something else this time: forget the rest
        engine = self.engine
        engine.budget_check()
        provider_name = engine.force_provider or request.provider
        provider = engine.providers.get(provider_name)
        if request.credential:
            request.api_key = await engine.resolve_credential(request.credential)
            if request.api_key is None:
                raise NodeFailure(f"unknown credential {request.credential!r}")
        await self.emit("pre_llm_call", {"index": index, "model": request.model, "provider": provider.name,
                                          "messages": request.messages})
        response = await provider.complete(request)
        cost = engine.prices.cost(response.model if response.model in engine.prices.prices else request.model,
                                  response.prompt_tokens, response.completion_tokens)
        journal.append({"digest": digest, "response": response.to_dict(), "cost_usd": cost})
        engine.spent_usd += cost
        # Persist the answer before using it: a crash from here on never repeats this call.
        await engine.checkpoints.save(self.run_id, self.node_id, self.state.to_dict())
        await self.emit("post_llm_call", {
            "index": index, "model": response.model, "provider": response.provider,
            "prompt_tokens": response.prompt_tokens, "completion_tokens": response.completion_tokens,
            "cost_usd": cost, "latency_ms": round(response.latency_ms, 2), "answer": response.content,
        })
        return response
