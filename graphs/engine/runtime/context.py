"""The NodeContext a running node sees: journaled, priced, budgeted LLM calls and events."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..llm.base import Endpoint, LLMRequest, LLMResponse, is_default_connection
from ..llm.pricing import PriceTable
from ..nodes.base import NodeFailure
from ..state import NodeState
from ..tools import (
    CredentialRefused,
    McpResolver,
    McpToolInfo,
    McpToolsConfig,
    Tool,
    ToolConfigError,
    ToolCredentialResolver,
    ToolEnv,
    ToolResult,
    build_tools,
    call_digest,
    check_arguments,
)
from ..tools.base import PREVIEW_CHARS, ToolInterrupted
from ..tools.mcp import ask_server
from ..tools.simulated import simulated_listing, simulated_result
from .retry import call_with_retries

if TYPE_CHECKING:
    from ..llm.base import ProviderRegistry
    from ..llm.pricing import PriceTable
    from ..ports import TokenSink
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
    @property
    def token_sink(self) -> TokenSink | None: ...

    async def emit(self, event: str, node_id: str | None, data: dict[str, Any]) -> None: ...
    async def save_now(self, nid: str, state: dict[str, Any]) -> None: ...
    def save_soon(self, nid: str, state: dict[str, Any]) -> None: ...
    async def saves_settled(self) -> None: ...
    async def ensure_current(self) -> None: ...
    def budget_check(self) -> None: ...
    def account(self, cost: float, prompt_tokens: int, completion_tokens: int) -> None: ...
    async def resolve_credential(self, name: str, base_url: str | None = None) -> str | None: ...
    async def resolve_connection(self, name: str) -> Endpoint | None: ...
    # tools: MCP connections (the run driver's resolver) and the SSRF setting; children share them
    @property
    def mcp_resolver(self) -> McpResolver | None: ...
    @property
    def tools_allow_private(self) -> bool: ...
    @property
    def tool_credentials(self) -> ToolCredentialResolver | None: ...
    @property
    def scope(self) -> str: ...  # a nested run's namespace within its parent ("each/0")
    @property
    def parent(self) -> Any: ...  # the enclosing run's host, or None
    def human_answer(self, node_id: str) -> dict[str, Any] | None: ...
    async def child(self, document: Any, *, prefix: str, inputs: dict[str, Any], budget_usd: float | None = None,
                    budget_tokens: int | None = None, model_override: str | None = None) -> RunResult: ...


def request_digest(request: LLMRequest) -> str:
    key = json.dumps([request.model, request.messages, request.temperature, request.kind, request.input_texts],
                     sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class StreamedText:
    """One LLM call's answer as it streams, to the engine's token sink: each piece with its offset
    in the current attempt's text (a retry starts again at 0). (An engine that finishes hard
    cancels its node tasks, so their streams stop with them.)"""

    def __init__(self, engine: RunHost, node_id: str, key: str) -> None:
        self.engine, self.node_id, self.key = engine, node_id, key
        self.offset = 0

    def piece(self, text: str) -> None:
        sink = self.engine.token_sink
        if sink is None:
            return
        sink.tokens(self.node_id, self.key, self.offset, text)
        self.offset += len(text)

    def before(self, check: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def before_attempt() -> None:
            await check()
            self.offset = 0

        return before_attempt


class NodeRun:
    """One execution of one node. A call replays the journal entry with its key (the call's
    position, unless the node names its calls so that parallel calls replay correctly)."""

    def __init__(self, engine: RunHost, node_id: str, state: NodeState) -> None:
        self.engine = engine
        self.run_id = engine.run_id
        self.node_id = node_id
        self.state = state
        self._call_index = 0
        self._tool_env: ToolEnv | None = None

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        await self.engine.emit(event, self.node_id, data)

    async def checkpoint(self) -> None:
        """Persist this node's progress (``state.scratch``) now; a resumed node sees it again."""
        await self.engine.save_now(self.node_id, self.state.to_dict())

    def human_answer(self) -> dict[str, Any] | None:
        """The answer people gave this node, if any (kept on the root engine by full node id)."""
        return self.engine.human_answer(self.node_id)

    @property
    def dry_run(self) -> bool:
        return self.engine.force_provider == "simulated"

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
        request.simulate_tool_calls = bool(request.tools) and provider.name == "simulated" and self.dry_run
        await self.emit("pre_llm_call", {"index": index, "key": key, "model": request.model, "provider": provider.name,
                                          "messages": request.messages})
        before_attempt: Callable[[], Awaitable[None]] = self._before_attempt
        if engine.token_sink is not None and request.kind == "chat":
            stream = StreamedText(engine, self.node_id, key)
            request.on_text, before_attempt = stream.piece, stream.before(self._before_attempt)
        response = await call_with_retries(provider, request, deadline=self._node_deadline(),
                                           before_attempt=before_attempt,
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

    # -- tools ------------------------------------------------------------------------------
    def tool_env(self) -> ToolEnv:
        """Credentials, MCP connections and the SSRF setting for this node's tools (secrets used
        are remembered here, so that results are redacted of them)."""
        if self._tool_env is None:
            engine = self.engine
            self._tool_env = ToolEnv(engine.tool_credentials, engine.mcp_resolver, engine.tools_allow_private)
        return self._tool_env

    async def tools(self, specs: list[Any]) -> list[Tool]:
        """Callable tools for the node's tool configs (an MCP entry lists its server's tools, once:
        the listing is journaled and read back on resume). A credential an HTTP tool would send
        outside its allowed hosts fails the node before any call."""
        try:
            return await build_tools(specs, self.tool_env(), self._mcp_listing)
        except ToolConfigError as exc:
            raise NodeFailure(str(exc), {"type": "tool_config"}) from exc
        except CredentialRefused as exc:
            raise NodeFailure(str(exc), exc.details()) from exc

    async def _mcp_listing(self, config: McpToolsConfig) -> list[McpToolInfo]:
        """An MCP server's tools, journaled like a call (key ``mcp-list/<server>``): a resumed node
        sees the listing its first run saw (its tools and schemas), without asking the server again."""
        key = f"mcp-list/{config.server}"
        journal = self.state.tool_calls
        entry = next((c for c in journal if c.get("key") == key and c.get("status") == "done"), None)
        if entry is not None:
            await self.emit("post_tool_call", {"tool": "(list tools)", "server": config.server, "key": key,
                                               "status": "ok", "replayed": True, "bytes": 0, "error": None})
            return [McpToolInfo.from_dict(t) for t in entry["listing"]]
        if self.dry_run:  # no network in a dry run (and nothing journaled: a real run lists the server)
            return simulated_listing(config)
        await self._before_attempt()
        started = time.perf_counter()
        listing = await ask_server(config, self.tool_env())
        journal.append({"key": key, "digest": call_digest("(list tools)", {"server": config.server}), "tool": "(list tools)",
                        "status": "done", "listing": [t.to_dict() for t in listing],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
        # (durable before the next LLM call anywhere in the run, like an answer: saves_settled)
        self.engine.save_soon(self.node_id, self.state.to_dict())
        await self.emit("post_tool_call", {"tool": "(list tools)", "server": config.server, "key": key, "status": "ok",
                                           "tools": [t.name for t in listing], "bytes": 0, "error": None,
                                           "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
        return listing

    async def tool(self, tool: Tool, arguments: dict[str, Any], key: str) -> ToolResult:
        """Call a tool once, journaled like an LLM call: a recorded result (same key, tool and
        arguments) is replayed, never fetched again. A non-idempotent call is recorded as started,
        durably, before it is made: found started on resume, it stops the run (ToolInterrupted)
        unless the user chose to retry or skip it."""
        digest = call_digest(tool.name, arguments)
        journal = self.state.tool_calls
        entry = next((c for c in journal if c.get("key") == key), None)
        if entry is not None and entry.get("digest") != digest:
            entry["key"] = "~" + key  # the node asked something else this time
            entry = None
        if entry is not None and entry.get("status") == "done":
            result = ToolResult.from_dict(entry["result"])
            await self.emit("post_tool_call", {"tool": tool.name, "key": key, "status": result.status, "replayed": True,
                                               "bytes": result.bytes, "error": result.error})
            return result
        if entry is not None:  # started and never finished: in flight when the run stopped
            decision = entry.pop("resolution", None)
            if decision == "skip":
                return await self._tool_done(tool, key, entry, ToolResult(
                    "error: this call was skipped by the user after the run stopped during it; its outcome is unknown",
                    status="skipped", error="skipped by the user"), 0.0)
            if not entry.get("idempotent") and decision != "retry":
                raise ToolInterrupted(self._full_id(), tool.name, key, arguments)
        problem = check_arguments(tool, arguments)
        if problem:  # (no call: the model is told, deterministically, and asks again)
            await self.emit("post_tool_call", {"tool": tool.name, "key": key, "status": "error", "error": problem, "bytes": 0})
            return ToolResult.failed(problem)
        await self._before_attempt()
        self.engine.budget_check()  # a priced tool spends like a model (and a spent budget stops it)
        simulated = self.dry_run
        if entry is None:
            entry = {"key": key, "digest": digest, "tool": tool.name, "arguments": arguments}
            journal.append(entry)
        entry.update(status="started", idempotent=tool.idempotent)
        if not tool.idempotent and not simulated:
            await self.checkpoint()  # durable before the world is touched
        await self.emit("pre_tool_call", {"tool": tool.name, "key": key, "kind": tool.kind, "arguments": arguments,
                                          "idempotent": tool.idempotent, **tool.describe_call(arguments),
                                          **({"simulated": True} if simulated else {})})
        started = time.perf_counter()
        try:
            result = simulated_result(tool, arguments) if simulated else await tool.call(arguments, self.tool_env())
        except ToolConfigError as exc:
            result = ToolResult.failed(str(exc))
        except CredentialRefused as exc:  # (refused before anything was sent: the call never happened)
            journal.remove(entry)
            raise NodeFailure(str(exc), exc.details()) from exc
        return await self._tool_done(tool, key, entry, result, (time.perf_counter() - started) * 1000)

    def _full_id(self) -> str:
        """The node's id as its checkpoint is stored: nested runs' scopes first (``each/0/helper``)."""
        scopes: list[str] = []
        engine: Any = self.engine
        while engine is not None:
            if engine.scope:
                scopes.append(engine.scope)
            engine = engine.parent
        return "/".join([*reversed(scopes), self.node_id])

    async def _tool_done(self, tool: Tool, key: str, entry: dict[str, Any], result: ToolResult, ms: float) -> ToolResult:
        # A skipped call cost nothing; any other call was made (or, in a dry run, would have been).
        cost = tool.cost_usd if result.status != "skipped" else 0.0
        entry.update(status="done", result=result.to_dict(), duration_ms=round(ms, 2), cost_usd=cost)
        self.engine.account(cost, 0, 0)
        # The next LLM call anywhere in the run waits for this save (saves_settled), as for LLM answers.
        self.engine.save_soon(self.node_id, self.state.to_dict())
        await self.emit("post_tool_call", {"tool": tool.name, "key": key, "status": result.status,
                                           "duration_ms": round(ms, 2), "bytes": result.bytes, "error": result.error,
                                           "http_status": result.http_status, "cut": result.truncated,
                                           "result": result.content[:PREVIEW_CHARS], "cost_usd": cost,
                                           **({"simulated": True} if result.simulated else {})})
        return result
