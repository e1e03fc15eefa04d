"""The scheduler: runs every ready node concurrently, checkpoints each finished node, follows
error edges to fallback handlers, enforces timeouts, and stops cleanly on cancel or budget.

Scheduling is linear in the size of the graph: a dependency counter per node (successors are
handed out when a node settles) and one completion queue, driven by ``scheduling.drive`` (the
loop for_each runs its items with too). Nodes that finish together are settled together, so
their checkpoints and events share a commit.

State lives in ``NodeState`` objects that round-trip through the CheckpointStore, so a run
driven by one process can be resumed by any other. A store that says the claim on the run is
lost (``ClaimLost`` from ``ensure_current`` or a save), or whose save fails, finishes the engine
at once: every node task is cancelled, nothing more is written, and ``run`` raises the error.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..current import CURRENT_NODE, SEND_CHECK
from ..hooks import HookContext, HookEvent, HookManager
from ..llm.base import Endpoint, LLMError, ProviderRegistry
from ..llm.pricing import PriceTable
from ..memory.tiers import default_memory
from ..money import BudgetExceeded
from ..nodes.base import NodeFailure, WaitForHuman
from ..ports import CheckpointStore, EventSink, TokenSink
from ..scheduling import Completions, DependencyCounter, drive, gather_inputs, resolved, settled, source_value
from ..schema import INPUTS_NODE, OUTPUTS_NODE
from ..state import FINISHED, NodeState, RunResult
from ..tools import McpResolver, ToolCredentialResolver
from ..tools.base import ToolInterrupted
from ..types import value_matches
from ..validate import CompiledNode, compile_graph, input_issues
from .context import NodeRun
from .saves import PendingSaves

# (name, the base URL the key would go to) -> the key, or None (no such key, or not one for that URL)
CredentialResolver = Callable[[str, str | None], Awaitable[str | None]]
# name -> the connection's endpoint and key (None: no such connection in the run's workspace)
ConnectionResolver = Callable[[str], Awaitable[Endpoint | None]]


class _Stop(Exception):
    """Ends the main loop: the run is failed, interrupted or cancelled."""

    def __init__(self, status: str, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", status))
        self.status, self.error = status, error


class Engine:
    def __init__(
        self,
        document: Any,
        *,
        run_id: str,
        providers: ProviderRegistry,
        checkpoints: CheckpointStore,
        events: EventSink,
        hooks: HookManager | None = None,
        prices: PriceTable | None = None,
        budget_usd: float | None = None,
        force_provider: str | None = None,
        credentials: CredentialResolver | None = None,
        connections: ConnectionResolver | None = None,
        memory: Any = None,
        memory_owner: Any = None,
        budget_tokens: int | None = None,
        model_override: str | None = None,
        parent: Engine | None = None,
        scope: str = "",
        mcp_resolver: McpResolver | None = None,
        tools_allow_private: bool = False,
        tool_credentials: ToolCredentialResolver | None = None,
        answers: Mapping[str, dict[str, Any]] | None = None,
        token_sink: TokenSink | None = None,
    ) -> None:
        self.spec, self.nodes = compile_graph(document)
        self.run_id = run_id
        self.providers = providers
        if parent is None:  # children read their checkpoints from the top-level run's view
            from .nested import CachedStore

            checkpoints = CachedStore(checkpoints)
        self.checkpoints = checkpoints
        self.events = events
        self.token_sink = token_sink  # streamed answers, ephemeral (the run page shows them growing)
        self.hooks = hooks or HookManager()
        self.prices = prices or PriceTable()
        self.budget_usd = budget_usd if budget_usd is not None else self.spec.settings.get("budget_usd")
        self.force_provider = force_provider
        self._credentials = credentials
        self._connections = connections
        self.budget_tokens = budget_tokens if budget_tokens is not None else self.spec.settings.get("budget_tokens")
        if memory is None and parent is None:  # the run's own, not a process-wide one (children share it)
            memory = default_memory()
        self.memory, self.memory_owner = memory, memory_owner  # MemoryStore port for agents' memory
        self.model_override = model_override  # budget guard's switch_model: chat calls use this model
        self.parent, self.scope = parent, scope  # child engines (for_each, pev, budget) share budgets
        self.root: Engine = parent.root if parent is not None else self
        # tools: MCP connections by name (the run driver's resolver) and the SSRF guard's setting
        self.mcp_resolver, self.tools_allow_private = mcp_resolver, tools_allow_private
        # stored credentials for tools' headers, with the hosts each may be sent to
        self.tool_credentials = tool_credentials
        # (on the root) people's answers to human nodes, by full node id (``<node>/<key>/<child>``)
        self.answers: Mapping[str, dict[str, Any]] = answers or {}
        self.spent_usd = 0.0
        self.spent_prompt = self.spent_completion = 0
        self.states: dict[str, NodeState] = {}
        self._parked: set[str] = set()  # human nodes that parked the run, taking up their answers
        self._stop: _Stop | None = None
        self._fatal: BaseException | None = None  # (on the root) the claim is lost or a save failed
        self._running: Completions[str] = Completions()
        self._readiness: DependencyCounter[str] | None = None
        self._pending_saves = PendingSaves(self._finish_hard)  # checkpoints and journal saves committing
        # wiring, computed once
        self.data_in: dict[str, list[Any]] = {nid: [] for nid in self.nodes}
        self.upstream: dict[str, list[str]] = {nid: [] for nid in self.nodes}
        self.handler: dict[str, str] = {}
        for edge in self.spec.edges:
            if edge.kind == "error":
                self.handler[edge.source] = edge.target
            elif edge.target in self.nodes:
                self.data_in[edge.target].append(edge)
                if edge.source in self.nodes:
                    self.upstream[edge.target].append(edge.source)
        self.parent_of = {h: p for p, h in self.handler.items()}
        self.handlers = set(self.parent_of)
        self.quorum: dict[str, int] = {}
        for nid, node in self.nodes.items():
            quorum = getattr(node.kind, "quorum", None)  # join: start once k upstream nodes produced
            k = quorum(node.config) if quorum else None
            if k:
                self.quorum[nid] = k

    # -- events -------------------------------------------------------------------------
    async def emit(self, event: str | HookEvent, node_id: str | None, data: dict[str, Any]) -> None:
        if self.root._fatal is not None:
            return  # a finished engine writes nothing more
        hook_event = HookEvent(event)
        if self.hooks.has_hooks(hook_event):
            ctx = HookContext(hook_event, self.run_id, node_id, metadata=dict(data))
            failures = [r.error for r in await self.hooks.trigger(ctx) if not r.success]
            if failures:
                data = {**data, "hook_errors": failures}
        await self.events.emit(self.run_id, hook_event.value, node_id, data)

    def stopping(self) -> bool:
        """Cancelled, interrupted or failed: start nothing more. (A call, not an attribute test, so
        that a check after an ``await`` is not taken for one made before it.)"""
        return self._stop is not None

    # -- control from outside -----------------------------------------------------------
    def request_cancel(self, reason: str = "cancelled by user") -> None:
        """Stop now: in-flight node tasks (and their HTTP requests) are cancelled."""
        if self._stop is None:
            self._stop = _Stop("cancelled", {"type": "cancelled", "message": reason})
        self._running.cancel_all()
        self._running.wake()

    def _finish_hard(self, exc: BaseException) -> None:
        """The claim is lost or a save failed: this engine, its parents and its children are done.

        Every node task is cancelled at once (children's tasks with the parent node's task that
        awaits them); from now on nothing is emitted or saved, and ``run`` raises ``exc``."""
        root = self.root
        if root._fatal is None:
            root._fatal = exc
        engine: Engine | None = self
        while engine is not None:
            engine._running.cancel_all()
            engine._running.wake()
            engine = engine.parent

    def raise_if_finished(self) -> None:
        if self.root._fatal is not None:
            raise self.root._fatal

    async def ensure_current(self) -> None:
        """Fencing: the store checks that this process still holds the run (before every LLM call)."""
        self.raise_if_finished()
        try:
            await self.checkpoints.ensure_current()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._finish_hard(exc)
            raise

    def budget_check(self) -> None:
        """Raise BudgetExceeded if this run, or any run enclosing it, has spent its budget."""
        engine: Engine | None = self
        while engine is not None:
            if engine.budget_usd is not None and engine.spent_usd >= engine.budget_usd:
                raise BudgetExceeded(engine.spent_usd, engine.budget_usd, engine.scope)
            used = engine.spent_prompt + engine.spent_completion
            if engine.budget_tokens is not None and used >= engine.budget_tokens:
                raise BudgetExceeded(used, engine.budget_tokens, engine.scope, unit="tokens")
            engine = engine.parent

    def account(self, cost: float, prompt_tokens: int, completion_tokens: int) -> None:
        """Count one LLM (or priced tool) call against this run and every run enclosing it."""
        engine: Engine | None = self
        while engine is not None:
            engine.spent_usd += cost
            engine.spent_prompt += prompt_tokens
            engine.spent_completion += completion_tokens
            engine = engine.parent

    async def child(self, document: Any, *, prefix: str, inputs: dict[str, Any], budget_usd: float | None = None,
                    budget_tokens: int | None = None, model_override: str | None = None) -> RunResult:
        """Run an inline graph inside this run (for-each bodies, budget-guarded subgraphs).

        A lost claim or failed save inside it finishes this run too: the error is raised here."""
        from .nested import NamespacedEvents, NamespacedStore, NamespacedTokens

        engine = Engine(
            document, run_id=self.run_id, providers=self.providers,
            checkpoints=NamespacedStore(self.checkpoints, prefix), events=NamespacedEvents(self.events, prefix),
            hooks=self.hooks, prices=self.prices, budget_usd=budget_usd, force_provider=self.force_provider,
            credentials=self._credentials, connections=self._connections, memory=self.memory, memory_owner=self.memory_owner,
            budget_tokens=budget_tokens, model_override=model_override or self.model_override, parent=self, scope=prefix,
            mcp_resolver=self.mcp_resolver, tools_allow_private=self.tools_allow_private,
            tool_credentials=self.tool_credentials,
            token_sink=NamespacedTokens(self.token_sink, prefix) if self.token_sink is not None else None,
        )
        result = await engine.run(inputs)
        if result.status == "waiting":
            raise NodeFailure("a human node inside a subgraph cannot wait for an answer: put it in the top-level graph",
                              {"type": "human_in_subgraph"})
        return result

    def human_answer(self, node_id: str) -> dict[str, Any] | None:
        """People's answer to a human node of this (possibly nested) run, by its full node id."""
        return self.root.answers.get(f"{self.scope}/{node_id}" if self.scope else node_id)

    async def resolve_credential(self, name: str, base_url: str | None = None) -> str | None:
        return await self._credentials(name, base_url) if self._credentials else None

    async def resolve_connection(self, name: str) -> Endpoint | None:
        return await self._connections(name) if self._connections else None

    # -- the run ------------------------------------------------------------------------
    async def run(self, inputs: dict[str, Any]) -> RunResult:
        self.raise_if_finished()
        restored = await self.checkpoints.load(self.run_id)
        self.states = {nid: NodeState.from_dict(restored[nid]) if nid in restored else NodeState() for nid in self.nodes}
        # a human node that parked the run takes up its answer as the same attempt
        self._parked = {nid for nid, state in self.states.items() if state.status == "waiting"}
        for state in self.states.values():
            if state.status not in FINISHED and not (state.status == "failed" and state.recovered_by):
                state.reset_for_rerun()
        # every saved state counts, nested runs' included: their calls were paid for
        every = [NodeState.from_dict(data) for data in restored.values()]
        self.spent_usd = sum(s.own_cost_usd for s in every)
        self.spent_prompt = sum(s.own_tokens[0] for s in every)
        self.spent_completion = sum(s.own_tokens[1] for s in every)
        kept = [nid for nid, s in self.states.items() if s.status != "pending"]
        # A re-run or fork starts from states copied from another run, each marked with its origin
        # (graphs/fork.py): its first claim is a start, not a resume.
        forked = bool(restored) and all("origin" in data for data in restored.values())
        if restored and not forked:
            await self.emit(HookEvent.RUN_RESUMED, None, {"restored_nodes": kept, "spent_usd": self.spent_usd})
        else:
            started: dict[str, Any] = {"inputs": inputs, "nodes": len(self.nodes)}
            if forked:
                started["reused_nodes"] = kept
            await self.emit(HookEvent.RUN_STARTED, None, started)
        for nid in kept:
            await self.emit(HookEvent.NODE_RESTORED, nid, {"status": self.states[nid].status})
        try:
            try:
                self._check_inputs(inputs)
                await self._loop(inputs)
            except _Stop as stop:
                self._stop = self._stop or stop
            finally:
                await self._drain()
            self.raise_if_finished()
            return await self._finish_run(inputs)
        except BaseException as exc:
            fatal = self.root._fatal
            if fatal is not None and exc is not fatal and not isinstance(exc, asyncio.CancelledError):
                raise fatal from exc  # the caller hears why the engine stopped, not a follow-on error
            raise

    def _check_inputs(self, inputs: dict[str, Any]) -> None:
        for issue in input_issues(self.spec.inputs, inputs, extra_ok=True)[:1]:
            raise _Stop("failed", {"type": "input", "message": f"run {issue.path}: {issue.message}", "path": issue.path})

    def _resolved(self, nid: str) -> dict[str, Any] | None:
        """Outputs a node stands for: its own, or those of the handler that recovered it."""
        return resolved(self.states, nid)

    def _source_value(self, edge: Any, inputs: dict[str, Any]) -> tuple[bool, Any]:
        return source_value(self.states, edge, inputs, INPUTS_NODE)

    def _gather_inputs(self, nid: str, inputs: dict[str, Any]) -> dict[str, Any] | None:
        """Inputs for a node, or None when a required one comes from a skipped branch."""
        return gather_inputs(self.data_in[nid], self.nodes[nid].inputs, lambda e: self._source_value(e, inputs))

    def _counter(self) -> DependencyCounter[str]:
        done = [nid for nid in self.nodes if settled(self.states, nid)]
        return DependencyCounter(
            self.upstream, settled=done, produced=[nid for nid in done if self._resolved(nid) is not None],
            quorum=self.quorum,
            eligible=[nid for nid, s in self.states.items() if s.status == "pending" and nid not in self.handlers],
        )

    async def _loop(self, inputs: dict[str, Any]) -> None:
        self._readiness = readiness = self._counter()
        if self._stop is not None:  # cancelled before it started
            return
        await drive(self._running, readiness.initial(), launch=lambda nid: self._launch(nid, inputs),
                    settle=self._settle, stopped=self._halted)

    def _halted(self) -> bool:
        """Start and settle nothing more: the run stops, or the engine is finished (claim lost)."""
        return self._stop is not None or self.root._fatal is not None

    async def _launch(self, nid: str, inputs: dict[str, Any]) -> list[str]:
        """Start a node whose dependencies settled; a node whose required input comes from a
        skipped branch is skipped (and settles in turn: returns the nodes that made ready)."""
        node_inputs = self._gather_inputs(nid, inputs)
        if node_inputs is None:
            await self._skip(nid, "an upstream branch was skipped")
            return self._settled_now(nid)
        self._start(nid, node_inputs)
        return []

    def _settled_now(self, nid: str) -> list[str]:
        assert self._readiness is not None
        return self._readiness.settle(nid, self._resolved(nid) is not None)

    def _start(self, nid: str, node_inputs: dict[str, Any]) -> None:
        state = self.states[nid]
        answered = nid in self._parked and state.attempts > 0
        self._parked.discard(nid)
        state.status, state.inputs, state.started_at = "running", node_inputs, time.time()
        state.attempts += 0 if answered else 1
        self._running.start(nid, self._execute(nid, node_inputs))

    async def _execute(self, nid: str, node_inputs: dict[str, Any]) -> dict[str, Any]:
        CURRENT_NODE.set(nid)  # (this node's own task: the run loop and other nodes do not see it)
        SEND_CHECK.set(self.ensure_current)  # (checked again as each of its requests leaves: llm/fencing.py)
        node: CompiledNode = self.nodes[nid]
        await self.emit(HookEvent.PRE_NODE, nid, {"kind": node.spec.kind, "inputs": node_inputs, "attempt": self.states[nid].attempts})
        ctx = NodeRun(self, nid, self.states[nid])
        try:
            outputs = await asyncio.wait_for(node.kind.run(ctx, node.config, node_inputs), node.config.timeout_s)
        except TimeoutError:
            raise NodeFailure(f"timed out after {node.config.timeout_s}s", {"type": "timeout"}) from None
        for name, port in node.outputs.items():
            if name in outputs and not value_matches(outputs[name], port.type):
                raise NodeFailure(f"output {name!r} is not {port.type}")
        return outputs

    async def _skip(self, nid: str, reason: str) -> None:
        state = self.states[nid]
        state.status, state.finished_at = "skipped", time.time()
        await self.emit(HookEvent.NODE_SKIPPED, nid, {"reason": reason, "kind": self.nodes[nid].spec.kind})
        await self._checkpoint(nid)

    async def _checkpoint(self, nid: str) -> None:
        """Save a finished node's state without holding up the run.

        Its LLM answers are already durable (the journal is settled before a node ends), so a
        checkpoint lost in a crash only means the node runs again on resume and replays them:
        no model is called twice. The store keeps saves and events in order, and the run
        waits for every pending save before it finishes.
        """
        await self.emit(HookEvent.PRE_CHECKPOINT_SAVE, nid, {"status": self.states[nid].status})
        started = time.perf_counter()
        self.save_soon(nid, self.states[nid].to_dict())  # (queued before the event below)
        await self.emit(HookEvent.POST_CHECKPOINT_SAVE, nid, {"queue_ms": round((time.perf_counter() - started) * 1000, 3)})

    async def _saves_done(self) -> None:
        if self._pending_saves:
            self.checkpoints.flush_soon()
            await self._pending_saves.all()
        self.raise_if_finished()

    def save_soon(self, nid: str, state: dict[str, Any]) -> None:
        """Queue a save of a node's state; LLM calls and the run's end wait for it.

        The state is in the store's queue when this returns (``queue_save``), ahead of every event
        and save issued after it: the order is the code's, not the event loop's."""
        if self.root._fatal is None:
            try:
                save = self.checkpoints.queue_save(self.run_id, nid, state)
            except BaseException as exc:  # (refused at once: a lost claim) raised where saves are awaited
                save = asyncio.get_running_loop().create_future()
                save.set_exception(exc)
            self.track_save(save)

    async def save_now(self, nid: str, state: dict[str, Any]) -> None:
        """Save a node's state and wait until it is durable (the store holds nothing back)."""
        self.raise_if_finished()
        self.checkpoints.flush_soon()
        try:
            await self.checkpoints.queue_save(self.run_id, nid, state)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._finish_hard(exc)
            raise

    def track_save(self, save: asyncio.Future[None]) -> None:
        """A save committing in the background; LLM calls and the run's end wait for it.

        A save that fails finishes the engine (``_finish_hard``): its error is kept and raised
        by the next ``saves_settled`` and by ``run``, so no LLM call starts on an unsaved answer."""
        self._pending_saves.add(save)

    async def saves_settled(self) -> None:
        """Wait for the saves pending now, here and in enclosing runs (not those added meanwhile).

        Called before every LLM call: every answer already received anywhere in the run is then
        durable, so no crash can make the engine ask the model again for a step it has used.
        Raises the error of a failed save (or a lost claim), whenever it happened.
        """
        self.raise_if_finished()
        engine: Engine | None = self
        flushed = False
        while engine is not None:
            if engine._pending_saves:
                if not flushed:
                    self.checkpoints.flush_soon()  # (one store under every level: the top-level run's)
                    flushed = True
                await engine._pending_saves.issued_so_far()
                self.raise_if_finished()
            engine = engine.parent

    async def _settle(self, nid: str, task: asyncio.Task[dict[str, Any]]) -> list[str]:
        """Record how a node's task ended; returns the nodes that may start now."""
        state = self.states[nid]
        state.finished_at = time.time()
        if task.cancelled():
            state.status = "cancelled"
            await self._post_node(nid)
            self.save_soon(nid, state.to_dict())
            return []
        exc = task.exception()
        if exc is None:
            state.status, state.outputs = "succeeded", task.result()
            await self._checkpoint(nid)
            await self._post_node(nid)
            return self._settled_now(nid) + [n for p in await self._recover_parent(nid) for n in self._settled_now(p)]
        if isinstance(exc, WaitForHuman):
            await self._park(nid, exc.request)
            return []
        if isinstance(exc, BudgetExceeded):
            state.status = "pending"  # not a failure: it runs again when resumed with more budget
            await self.save_now(nid, state.to_dict())
            error = {"type": "budget", "message": str(exc), "node": nid, "unit": exc.unit, "scope": exc.scope,
                     "spent_usd": self.spent_usd, "budget_usd": exc.budget if exc.unit == "usd" else self.budget_usd,
                     "spent": exc.spent, "budget": exc.budget}
            await self._post_node(nid, error)
            raise _Stop("interrupted", error)
        if isinstance(exc, ToolInterrupted):
            state.status = "pending"  # runs again on resume, which says whether to retry or skip the call
            await self.save_now(nid, state.to_dict())
            error = {"type": "tool_interrupted", "message": str(exc), "node": exc.node, "tool": exc.tool,
                     "key": exc.key, "arguments": exc.arguments}
            await self._post_node(nid, error)
            raise _Stop("interrupted", error)
        state.status, state.error = "failed", _error_dict(exc)
        await self.emit(HookEvent.ON_ERROR, nid, state.error)
        await self._checkpoint(nid)
        await self._post_node(nid)
        handler = self.handler.get(nid)
        if handler is not None:
            await self.emit(HookEvent.FALLBACK, nid, {"handler": handler, "error": state.error["message"]})
            self._start(handler, dict(state.inputs))
            return []
        raise _Stop("failed", {**state.error, "node": nid, "message": f"node {nid} failed: {state.error['message']}"})

    async def _park(self, nid: str, request: dict[str, Any]) -> None:
        """A human node waits for its answer: its dependents stay unreleased (the branches not
        behind it run on); its request and since when it waits are checkpointed, so a timeout
        counts from the first time it waited, whichever worker resumes the run."""
        state = self.states[nid]
        since = (state.scratch.get("human") or {}).get("since") or time.time()
        timeout = request.get("timeout_s")
        state.status = "waiting"
        state.scratch["human"] = {**request, "since": since, "due_at": since + timeout if timeout else None}
        await self._checkpoint(nid)
        await self.emit(HookEvent.NODE_WAITING, nid, state.scratch["human"])
        await self._post_node(nid)

    async def _recover_parent(self, nid: str) -> list[str]:
        """A handler succeeded: every node up its fallback chain now stands for its outputs."""
        recovered = []
        while nid in self.handlers:
            parent = self.parent_of[nid]
            self.states[parent].recovered_by = nid
            await self.save_now(parent, self.states[parent].to_dict())
            recovered.append(parent)
            nid = parent
        return recovered

    async def _post_node(self, nid: str, error: dict[str, Any] | None = None) -> None:
        """The node's state changed for good in this run (succeeded, failed, cancelled, or back
        to pending when the budget ran out): the one event a viewer needs to show it."""
        state = self.states[nid]
        prompt, completion = state.tokens
        await self.emit(HookEvent.POST_NODE, nid, {
            "kind": self.nodes[nid].spec.kind, "status": state.status, "attempt": state.attempts, "outputs": state.outputs,
            "duration_ms": state.duration_ms, "cost_usd": state.cost_usd, "prompt_tokens": prompt, "completion_tokens": completion,
            "error": error or state.error,
        })

    async def _drain(self) -> None:
        """Cancel whatever still runs (failure elsewhere, cancel, budget) and wait for it.

        A node that finished meanwhile is recorded as it ended; the others become ``cancelled``,
        each with a ``post_node`` event. A finished engine (claim lost) writes nothing."""
        running = self._running
        if not running.tasks:
            return
        running.cancel_all()
        await running.wait_all()
        if self.root._fatal is not None:
            running.tasks.clear()
            return
        for nid, task in list(running.tasks.items()):
            running.pop(nid)
            state = self.states[nid]
            if not task.cancelled() and task.exception() is None:
                state.status, state.outputs, state.finished_at = "succeeded", task.result(), time.time()
                await self._checkpoint(nid)
                await self._post_node(nid)
                await self._recover_parent(nid)
                continue
            state.status, state.finished_at = "cancelled", time.time()
            await self._post_node(nid, state.error or _cancel_error(self._stop))
            self.save_soon(nid, state.to_dict())

    async def _finish_run(self, inputs: dict[str, Any]) -> RunResult:
        """The run's last event (``run_finished``, or ``run_waiting`` when it parks), then the wait
        for its pending saves: queued before that wait, the event shares the saves' last write (a
        store that commits events and saves together, as the worker's does, then ends the run in
        one commit). A save that fails fails that write whole, event included, and is raised here."""
        self.raise_if_finished()
        # (every save issued so far, a node cancelled in flight say, is already in the store's
        # queue (save_soon): a store that writes the end with its last event writes them first)
        result = await self._last_event(inputs)
        await self._saves_done()
        return result

    async def _last_event(self, inputs: dict[str, Any]) -> RunResult:
        outputs: dict[str, Any] = {}
        for edge in self.spec.edges:
            if edge.target == OUTPUTS_NODE:
                present, value = self._source_value(edge, inputs)
                if present:
                    outputs[edge.target_port] = value
        stop = self._stop
        status = stop.status if stop else "succeeded"
        error = stop.error if stop else None
        waiting = [nid for nid, s in self.states.items() if s.status == "waiting"]
        if status == "succeeded" and waiting:
            return await self._park_run(waiting, outputs)
        if status == "succeeded":
            missing = [n for n, f in self.spec.outputs.items() if f.required and n not in outputs]
            if missing:
                status, error = "failed", {"type": "output", "message": f"outputs not produced: {', '.join(missing)}"}
        if status == "interrupted":
            await self.emit(HookEvent.INTERRUPTED, None, error or {})
        elif status == "cancelled":
            await self.emit(HookEvent.CANCELLED, None, error or {})
        prompt, completion = self.spent_prompt, self.spent_completion
        result = RunResult(status, outputs, error, round(self.spent_usd, 8), prompt, completion,
                           {nid: s.to_dict() for nid, s in self.states.items()})
        await self.emit(HookEvent.RUN_FINISHED, None, {"status": status, "outputs": outputs, "error": error,
                                                       "cost_usd": result.cost_usd,
                                                       "prompt_tokens": prompt, "completion_tokens": completion})
        return result


    async def _park_run(self, waiting: list[str], outputs: dict[str, Any]) -> RunResult:
        """Nothing more can run until people answer: the run parks (no run_finished)."""
        prompt, completion = self.spent_prompt, self.spent_completion
        result = RunResult("waiting", outputs, None, round(self.spent_usd, 8), prompt, completion,
                           {nid: s.to_dict() for nid, s in self.states.items()})
        await self.emit(HookEvent.RUN_WAITING, None, {
            "status": "waiting", "waiting": [{"node": nid, **self.states[nid].scratch.get("human", {})} for nid in waiting],
            "outputs": outputs, "cost_usd": result.cost_usd, "prompt_tokens": prompt, "completion_tokens": completion})
        return result


def _cancel_error(stop: _Stop | None) -> dict[str, Any]:
    """Why a node in flight was cancelled: the run's stop (a cancel, another node's failure, the budget)."""
    if stop is None:
        return {"type": "cancelled", "message": "cancelled"}
    return {"type": "cancelled", "message": f"cancelled: {stop.error.get('message', stop.status)}", "run_status": stop.status}


def _error_dict(exc: BaseException) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc) or type(exc).__name__}
    if isinstance(exc, NodeFailure):
        data.update(exc.data)
        data.setdefault("type", "node_failure")
    elif isinstance(exc, LLMError):
        data.update({"type": "llm_error", "status": exc.status, "retryable": exc.retryable, **exc.detail})
    else:
        data["traceback"] = "".join(traceback.format_exception(exc))[-4000:]
    return data
