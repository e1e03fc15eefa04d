"""Hook events (names from the Kaizen source document) and the manager that runs them.

Every event the engine emits goes through ``HookManager.trigger``; a hook that raises or times
out is recorded in the result list and never crashes the run.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class HookEvent(StrEnum):
    RUN_STARTED = "run_started"
    RUN_RESUMED = "run_resumed"
    RUN_FINISHED = "run_finished"
    # Every branch that could run has finished and a human node waits for an answer: the run
    # parks (status waiting, no worker). data.waiting lists the nodes with their forms.
    RUN_WAITING = "run_waiting"
    NODE_WAITING = "node_waiting"  # a human node waits: data is its request (form, question, due_at)
    HUMAN_ANSWERED = "human_answered"  # a human node took its answer: {answer, by, at, source}
    PRE_NODE = "pre_node"  # the node started (status running)
    # The node's state changed for good in this run; data.status says to what: succeeded, failed,
    # cancelled (in flight when the run failed, was cancelled or ran out of budget; data.error says
    # why), or pending (it met the budget: it runs again on resume). Every state change a reload
    # would show comes as pre_node / post_node / node_skipped / node_restored.
    POST_NODE = "post_node"
    NODE_SKIPPED = "node_skipped"
    NODE_RESTORED = "node_restored"
    PRE_AGENT_LOOP = "pre_agent_loop"
    POST_AGENT_LOOP = "post_agent_loop"
    PRE_LLM_CALL = "pre_llm_call"
    POST_LLM_CALL = "post_llm_call"
    # An LLM call is asked again: after a transient error {attempt, error, status, wait_s, model, key}
    # (engine retries: 429 after Retry-After, 5xx, timeouts), or a malformed answer {attempt, problem, raw}.
    LLM_RETRY = "llm_retry"
    # A tool call: pre {tool, key, kind, arguments, idempotent, method/url or server}; post {tool, key,
    # status (ok, error, skipped), duration_ms, bytes, error, http_status, cut (answer cut at the size
    # limit), result (a preview), replayed}.
    # Credentials' secrets never appear: headers are not recorded and results are redacted.
    PRE_TOOL_CALL = "pre_tool_call"
    POST_TOOL_CALL = "post_tool_call"
    ON_ERROR = "on_error"
    FALLBACK = "fallback"
    PRE_CHECKPOINT_SAVE = "pre_checkpoint_save"
    POST_CHECKPOINT_SAVE = "post_checkpoint_save"
    BUDGET = "budget"
    DECISION = "decision"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    SUBRUN_STARTED = "subrun_started"  # a for-each item / guarded subgraph started (node_id = its namespace)
    SUBRUN_FINISHED = "subrun_finished"
    WARNING = "warning"  # e.g. a plan accepted with validation_mode=warn
    MEMORY = "memory"  # conversation memory loaded/saved, with the tier that served it


@dataclass
class HookContext:
    event: HookEvent
    run_id: str
    agent_id: str | None  # the node id, in the source document's words
    timestamp: float = field(default_factory=time.time)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class HookResult:
    success: bool = True
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


Hook = Callable[[HookContext], Awaitable[HookResult | None]]


class HookManager:
    """Registry of async hooks per event; ``trigger`` isolates their failures."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self._hooks: dict[HookEvent, list[Hook]] = defaultdict(list)
        self.timeout_s = timeout_s

    def register(self, event: HookEvent, hook: Hook) -> None:
        self._hooks[HookEvent(event)].append(hook)

    def unregister(self, event: HookEvent, hook: Hook) -> None:
        self._hooks[HookEvent(event)].remove(hook)

    def has_hooks(self, event: HookEvent) -> bool:
        return bool(self._hooks.get(event))

    async def trigger(self, context: HookContext) -> list[HookResult]:
        results: list[HookResult] = []
        for hook in list(self._hooks.get(context.event, ())):
            try:
                # (a deadline on the caller's own task: wait_for wrapped every hook call, once per
                # event, in a task of its own, ~8 µs more per event. Nothing may rely on the loop
                # turn that task gave: the engine's saves are queued as they are issued.)
                async with asyncio.timeout(self.timeout_s):
                    result = await hook(context)
                results.append(result if isinstance(result, HookResult) else HookResult())
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # a hook never crashes a run
                name = getattr(hook, "__name__", repr(hook))
                results.append(HookResult(success=False, error=f"{name}: {type(exc).__name__}: {exc}"))
        return results
