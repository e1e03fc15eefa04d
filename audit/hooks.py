"""User hooks for one run: ``attach(hook_manager, run)`` is the only call the run driver makes.

It registers one dispatcher for every engine event. The dispatcher keeps the per-process
metrics, and applies the graph's GraphHook rows: webhooks (enqueued for Celery delivery),
slow-node and error alerts (an audit entry, a log line, and a signed POST if a URL is set).
Database and broker work happens on the process's database threads (kaizen_web/dbthreads.py),
never on the engine's event loop, and the engine's HookManager isolates any failure, so a hook
can never fail a run. (Not a thread per run: that thread's connection lived as long as the run,
so a worker's connections grew with its concurrent runs.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import Any

from graphs import signals as published
from graphs.engine.hooks import HookContext, HookEvent, HookManager, HookResult
from kaizen_web.dbthreads import db, submit

from . import logs, metrics

log = logging.getLogger(__name__)
DEFAULT_WEBHOOK_EVENTS = frozenset({"run_finished", "on_error"})
_LAST = (HookEvent.RUN_FINISHED, HookEvent.RUN_WAITING)  # the worker lets go of the run after either

__all__ = ["HookManager", "attach"]


@dataclass(frozen=True)
class HookConfig:
    id: int
    kind: str
    url: str
    events: frozenset[str]
    threshold_ms: int | None


def attach(hook_manager: HookManager, run: Any) -> HookManager:
    """Register this run's hooks (and bind run_id/user_id for its log lines); returns the manager."""
    logs.bind(run_id=run.pk, user_id=run.created_by_id)
    dispatcher = RunHooks(run.pk, run.graph_id)
    read = published.claim_read(run, CLAIM_READ)
    if read is not None:  # the worker's claim read the graph's hooks: no statement of their own
        dispatcher.configs = [_config(h) for h in read]
    for event in HookEvent:
        hook_manager.register(event, dispatcher)
    return hook_manager


CLAIM_READ = "audit_hooks"


def claim_sql() -> str:
    """The graph's enabled hooks as a JSON array, read by the worker's claim statement
    (graphs.signals.read_with_claim; PostgreSQL): the fields ``_load`` reads, in its order."""
    from graphs.models import Run

    from .models import GraphHook

    hooks = GraphHook._meta.db_table
    return (f"SELECT COALESCE(json_agg(json_build_object('id', h.id, 'kind', h.kind, 'url', h.url, 'events', h.events, "
            f"'threshold_ms', h.threshold_ms) ORDER BY h.id), '[]'::json) "
            f"FROM {hooks} h WHERE h.graph_id = {Run._meta.db_table}.graph_id AND h.enabled")


def _config(h: dict[str, Any]) -> HookConfig:
    return HookConfig(h["id"], h["kind"], h["url"], frozenset(h["events"] or ()) or DEFAULT_WEBHOOK_EVENTS, h["threshold_ms"])


class RunHooks:
    def __init__(self, run_id: int, graph_id: int) -> None:
        self.run_id, self.graph_id = run_id, graph_id
        self.configs: list[HookConfig] | None = None
        self.kinds: dict[str, str] = {}
        self._pending: list[Future[Any]] = []
        self.__name__ = "audit_hooks"  # named in hook_errors if it ever raises

    async def __call__(self, ctx: HookContext) -> HookResult:
        event = ctx.event.value
        if event == "pre_node" and ctx.agent_id:
            self.kinds[ctx.agent_id] = str(ctx.metadata.get("kind", ""))
        metrics.observe_hook_event(event, ctx.metadata, ctx.metadata.get("kind") or self.kinds.get(ctx.agent_id or ""))
        if self.configs is None:
            self.configs = await db(self._load)
        for hook in self.configs:
            self._apply(hook, ctx)
        if ctx.event in _LAST and self._pending:
            await asyncio.get_running_loop().run_in_executor(None, self._finish)
        return HookResult()

    # -- runs on a database thread ------------------------------------------------------
    def _load(self) -> list[HookConfig]:
        from .models import GraphHook

        rows = GraphHook.objects.filter(graph_id=self.graph_id, enabled=True)
        return [HookConfig(h.pk, h.kind, h.url, frozenset(h.events or ()) or DEFAULT_WEBHOOK_EVENTS, h.threshold_ms)
                for h in rows]

    def _submit(self, fn, *args: Any) -> None:
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(submit(_guarded, fn, *args))

    def _finish(self) -> None:
        """Let queued deliveries leave before the worker lets go of the run (bounded)."""
        wait(self._pending, timeout=3)
        self._pending = []

    # -- deciding ---------------------------------------------------------------------------
    def _apply(self, hook: HookConfig, ctx: HookContext) -> None:
        event, data = ctx.event.value, ctx.metadata
        if hook.kind == "webhook" and event in hook.events:
            self._submit(enqueue_delivery, hook.id, self._payload(event, ctx.agent_id, data, ctx.timestamp))
        elif hook.kind == "slow_node" and event == "post_node" and hook.threshold_ms is not None:
            duration = data.get("duration_ms")
            if duration is not None and float(duration) > hook.threshold_ms:
                alert = {"duration_ms": duration, "threshold_ms": hook.threshold_ms,
                         "kind": data.get("kind") or self.kinds.get(ctx.agent_id or ""), "status": data.get("status")}
                log.warning("slow node %s: %s ms > %s ms", ctx.agent_id, duration, hook.threshold_ms,
                            extra={"node_id": ctx.agent_id, "duration_ms": duration})
                self._submit(self._alert, hook, "alert.slow_node", ctx, alert, f"{duration} ms > {hook.threshold_ms} ms")
        elif hook.kind == "error" and event == "on_error":
            log.error("node %s failed: %s", ctx.agent_id, data.get("message"), extra={"node_id": ctx.agent_id})
            alert = {k: v for k, v in data.items() if k != "traceback"}
            self._submit(self._alert, hook, "alert.error", ctx, alert, str(data.get("message", "")))

    def _payload(self, event: str, node_id: str | None, data: dict[str, Any], ts: float) -> dict[str, Any]:
        return {"event": event, "run_id": self.run_id, "graph_id": self.graph_id, "node_id": node_id,
                "timestamp": ts, "data": json.loads(json.dumps(data, default=str))}

    def _alert(self, hook: HookConfig, event: str, ctx: HookContext, alert: dict[str, Any], summary: str) -> None:
        from graphs.models import Run

        from .services import record_action

        run = Run.objects.select_related("graph").get(pk=self.run_id)
        record_action(event, actor=run.created_by_id, run=run, node_id=ctx.agent_id or "", status="alert",
                      summary=summary, data={"hook": hook.id, **alert})
        if hook.url:
            enqueue_delivery(hook.id, self._payload(event, ctx.agent_id, alert, ctx.timestamp))


def enqueue_delivery(hook_id: int, payload: dict[str, Any]) -> None:
    from .tasks import deliver_webhook

    deliver_webhook.apply_async(args=[hook_id, payload, uuid.uuid4().hex, 1])


def _guarded(fn, *args: Any) -> None:
    started = time.perf_counter()
    try:
        fn(*args)
    except Exception:  # a hook's side effect failing is logged, never raised into the run
        log.exception("audit hook action %s failed after %.0f ms", getattr(fn, "__name__", fn),
                      (time.perf_counter() - started) * 1000)
