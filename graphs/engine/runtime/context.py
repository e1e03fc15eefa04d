"""The NodeContext a running node sees: journaled, priced, budgeted LLM calls and events."""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any, Protocol

from ..llm.base import Endpoint, LLMRequest, LLMResponse, is_default_connection
from ..llm.pricing import PriceTable
from ..nodes.base import NodeFailure
from ..state import NodeState
from .retry import call_with_retries

if TYPE_CHECKING:
    from ..llm.base import ProviderRegistry
    from ..llm.pricing import PriceTable
    from ..state import RunResult
    from ..validate import CompiledNode


class RunHost(Protocol):
    """What a node's context asks of the run executing it (the Engine, in engine.py, which
    imports this module: this protocol keeps the import one way)."""

    @property
    def run_id(self) -> str: ...
    @property
    def nodes(self) -> dict[str, CompiledNode]: ...
    @property
    def providers(self) -> ProviderRegistry: ...
    @property
    def prices(self) -> PriceTable: ...
    @property
    def force_provider(self) -> str | None: ...
    @property
    def model_override(self) -> str | None: ...
    @property
    def memory(self) -> Any: ...
    @property
    def memory_owner(self) -> Any: ...

    async def emit(self, event: str, node_id: str | None, data: dict[str, Any]) -> None: ...
    async def save_now(self, nid: str, state: dict[str, Any]) -> None: ...
    def save_soon(self, nid: str, state: dict[str, Any]) -> None: ...
    async def saves_settled(self) -> None: ...
    async def ensure_current(self) -> None: ...
    def budget_check(self) -> None: ...
    def account(self, cost: float, prompt_tokens: int, completion_tokens: int) -> None: ...
    async def resolve_credential(self, name: str, base_url: str | None = None) -> str | None: ...
    async def resolve_connection(self, name: str) -> Endpoint | None: ...
    async def child(self, document: Any, *, prefix: str, inputs: dict[str, Any], budget_usd: float | None = None,
                    budget_tokens: int | None = None, model_override: str | None = None) -> RunResult: ...


def request_digest(request: LLMRequest) -> str:
    key = json.dumps([request.model, request.messages, request.temperature, request.kind, request.input_texts],
                     sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class NodeRun:
    """One execution of one node. A call replays the journal entry with its key (the call's
    position, unless the node names its calls so that parallel calls replay correctly)."""

    def __init__(self, engine: RunHost, node_id: str, state: NodeState) -> None:
        self.engine = engine
        self.run_id = engine.run_id
        self.node_id = node_id
        self.state = state
        self._call_index = 0

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        await self.engine.emit(event, self.node_id, data)

    async def checkpoint(self) -> None:
        """Persist this node's progress (``state.scratch``) now; a resumed node sees it again."""
        await self.engine.save_now(self.node_id, self.state.to_dict())

    @property
    def memory(self) -> Any:
        """The run's conversation MemoryStore (None when the runtime has none)."""
        return self.engine.memory

    @property
    def owner(self) -> Any:
        """Whose memory the run uses (the run's user, for the Django adapters)."""
        return self.engine.memory_owner

    async def subgraph(self, document: Any, inputs: dict[str, Any], *, key: str, budget_usd: float | None = None,
                       budget_tokens: int | None = None, model_override: str | None = None) -> RunResult:
        """Run an inline graph as a child of this run: checkpoints and events are namespaced
        ``<node>/<key>/<child node>``, spending counts against every enclosing budget."""
        result = await self.engine.child(document, prefix=f"{self.node_id}/{key}", inputs=inputs, budget_usd=budget_usd,
                                         budget_tokens=budget_tokens, model_override=model_override)
        # the node's cost includes its nested runs (the run page shows cost per top-level node)
        self.state.scratch.setdefault("_subruns", {})[key] = [result.cost_usd, result.prompt_tokens, result.completion_tokens]
        return result

    async def _before_attempt(self) -> None:
        """Before every request to a model: every answer received so far in the run is durable,
        and this process still holds the run (a superseded worker starts no new call)."""
        await self.engine.saves_settled()
        await self.engine.ensure_current()

    def _node_deadline(self) -> float | None:
        """When the node's own timeout_s runs out (``time.monotonic()``): no retry reaches past it."""
        if self.state.started_at is None:
            return None
        elapsed = max(0.0, time.time() - self.state.started_at)
        return time.monotonic() - elapsed + self.engine.nodes[self.node_id].config.timeout_s

    async def settle(self) -> None:
        """Wait until every answer journaled so far in the run is durable."""
        await self.engine.saves_settled()

    async def llm(self, request: LLMRequest, key: str | None = None) -> LLMResponse:
        index, self._call_index = self._call_index, self._call_index + 1
        key = key or f"#{index}"
        engine = self.engine
        if engine.model_override and request.kind == "chat":
            request.model = engine.model_override
        digest = request_digest(request)
        journal = self.state.llm_calls
        pos = next((i for i, c in enumerate(journal) if c.get("key", f"#{i}") == key), None)
        if pos is not None:
            if journal[pos]["digest"] == digest:
                await self.emit("post_llm_call", {"index": index, "key": key, "replayed": True, "model": request.model})
                return LLMResponse.from_dict(journal[pos]["response"])
            # The node asked something else this time: forget this answer and the positional ones after
            # it (named calls of parallel branches stay valid), but keep counting what they cost.
            for i in range(pos, len(journal)):
                stale_key = journal[i].get("key", f"#{i}")
                if i == pos or stale_key.startswith("#"):
                    journal[i]["key"] = "~" + stale_key
        engine.budget_check()
        provider_name = engine.force_provider or request.provider
        provider = engine.providers.get(provider_name)
        prices = engine.prices.prices
        if not is_default_connection(request.connection):
            # a connection's endpoint and key, resolved by the run driver (the operator's key never)
            endpoint = await engine.resolve_connection(request.connection or "")
            if endpoint is None:
                raise NodeFailure(f"unknown connection {request.connection!r}: define it on the workspace's "
                                  "Connections page, or pick another in the node's settings")
            request.base_url, request.api_key, request.credential = endpoint.base_url, endpoint.api_key, None
            prices = {**prices, **endpoint.prices}
        elif request.credential:
            request.api_key = await engine.resolve_credential(request.credential, request.base_url)
            if request.api_key is None:
                raise NodeFailure(f"unknown credential {request.credential!r}, or not one stored for this base_url "
                                  "(a key only goes to the URL it was stored for): pick a model connection instead")
        await self.emit("pre_llm_call", {"index": index, "key": key, "model": request.model, "provider": provider.name,
                                          "messages": request.messages})
        response = await call_with_retries(provider, request, deadline=self._node_deadline(),
                                           before_attempt=self._before_attempt,
                                           on_retry=lambda data: self.emit("llm_retry", {**data, "key": key}))
        table = engine.prices if prices is engine.prices.prices else PriceTable(dict(prices), engine.prices.fallback)
        cost = table.cost(response.model if response.model in prices else request.model,
                          response.prompt_tokens, response.completion_tokens)
        journal.append({"key": key, "digest": digest, "response": response.to_dict(), "cost_usd": cost})
        engine.account(cost, response.prompt_tokens, response.completion_tokens)
        # Journal the answer. The commit runs in the background; the next LLM call anywhere in the
        # run waits for it (saves_settled), so a crash never repeats a call whose answer was used.
        engine.save_soon(self.node_id, self.state.to_dict())
        await self.emit("post_llm_call", {
            "index": index, "key": key, "model": response.model, "provider": response.provider,
            "prompt_tokens": response.prompt_tokens, "completion_tokens": response.completion_tokens,
            "cost_usd": cost, "latency_ms": round(response.latency_ms, 2), "answer": response.content,
        })
        return response
