"""Drive one run on this worker: claim it, run the engine, heartbeat, obey cancel, hand off.

A run is claimed with one conditional UPDATE that also takes a new fencing token (``epoch``), so
of two deliveries of the same message only one executes, and every later write the worker makes
for the run (events, node states, journal, memory, the run row) is conditional on that epoch
being current. A worker that dies stops heartbeating, its lease lapses, and the sweeper hands the
run to another worker, which resumes from the checkpoints; if the first one was only frozen, its
next write or heartbeat finds the epoch moved on and it stops without writing anything.

On SIGTERM (a deploy, autoscaling) the worker hands its runs off: no new LLM call starts, the
calls in flight get ``KAIZEN_SHUTDOWN_GRACE_S`` to finish and be saved, then the run's lease is
released and its message re-sent, so that another worker resumes it at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from kaizen_web.dbthreads import db, db_retrying

from .. import cancel, dispatch, signals
from ..connections import connection_resolver
from ..credentials import credential_resolver, tool_credential_resolver
from ..engine.hooks import HookManager
from ..engine.llm import PriceTable, ProviderRegistry
from ..engine.llm.shared import shared_providers
from ..engine.ports import ClaimLost
from ..engine.runtime import Engine
from ..engine.validate import GraphInvalid
from ..mcp_servers import mcp_resolver
from ..memory_adapter import build_memory
from ..models import HumanAnswer, Run
from . import runloop
from .adapters import HandedOff, RunRecorder
from .claim import Claim, claim_run, version_spec
from .token_relay import TokenRelay

log = logging.getLogger(__name__)
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def log_run_error(run_id: int, error: dict[str, Any]) -> None:
    """A failed run is a WARNING in the server's log, with what a person needs to act on it (the
    page shows the same message)."""
    where = {k: error[k] for k in ("node", "endpoint", "model", "setting", "kind") if error.get(k)}
    log.warning("run %s failed: %s%s", run_id, error.get("message", error.get("type", "error")),
                "".join(f" {k}={v}" for k, v in where.items()), extra={"run_id": run_id})


def build_providers() -> ProviderRegistry:
    """The process's shared providers (built once per configuration; runs never close them)."""
    return shared_providers(settings.OPENAI_BASE_URL or None, settings.OPENAI_API_KEY or None,
                            max_retries=settings.KAIZEN_LLM_MAX_RETRIES,
                            simulated_latency_s=settings.KAIZEN_SIMULATED_LATENCY_S,
                            default=settings.KAIZEN_DEFAULT_PROVIDER,
                            allow_private=settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS,
                            output_mode=settings.KAIZEN_LLM_OUTPUT_MODE, stream=settings.KAIZEN_LLM_STREAM)


def execute_run(run_id: int) -> str | None:
    """Claim and execute a run to a final (or interrupted) state; None if it was not ours to run.

    Everything, the claim included, happens on the process's run loop and its database threads:
    the calling (Celery) thread only waits, and holds no database connection."""
    return runloop.run(_execute(run_id))


_draining = False  # this worker is shutting down: it takes no new run


_listener: asyncio.Task[None] | None = None


def _ensure_cancel_listener() -> None:
    """Distributed mode: one subscription per worker process to cancel announcements."""
    global _listener
    if settings.REDIS_URL and (_listener is None or _listener.done()):
        _listener = asyncio.ensure_future(cancel.listen(cancel_local))


def cancel_local(run_id: int) -> None:
    """A cancel announced for ``run_id``: if it runs here, read its flag now (on the run loop)."""
    driver = _ACTIVE.get(run_id)
    if driver is not None and driver.engine is not None:
        asyncio.ensure_future(driver.check_cancel())


cancel.listen_here(lambda run_id: runloop.call_soon(cancel_local, run_id))  # embedded: no Redis to hear it on


async def _execute(run_id: int) -> str | None:
    _ensure_cancel_listener()
    if _draining:  # (acked on return with acks_late: send it again for another worker)
        dispatch.send_run(run_id)
        return None
    owner = f"{WORKER_ID}:{uuid.uuid4().hex[:8]}"
    # (the message is acked when this returns: a database hiccup must not lose the run)
    claimed = await db_retrying(claim_run, run_id, owner, give_up_after_s=settings.KAIZEN_LEASE_S)
    if claimed is None:
        return None
    driver = _Driver(claimed, owner)
    _ACTIVE[run_id] = driver
    try:
        return await driver.drive()
    finally:
        _ACTIVE.pop(run_id, None)


class _Driver:
    """One claim of one run on this worker."""

    def __init__(self, claimed: Claim, owner: str) -> None:
        run = claimed.run
        self.run, self.owner, self.epoch, self.claimed = run, owner, run.epoch, claimed
        self.recorder = RunRecorder(run.pk, run.epoch, start=claimed.start)
        self.recorder.final_with_last_event = True  # the run row's end commits with run_finished or run_waiting (finish() waits)
        self.tokens = TokenRelay(run.pk)  # streamed answers to the run's page (never stored)
        self.engine: Engine | None = None
        self.task: asyncio.Task[Any] | None = None
        self.handoff: asyncio.Event = asyncio.Event()

    async def drive(self) -> str:
        run, recorder = self.run, self.recorder
        providers = build_providers()
        answers: dict[str, Any] = {}
        if self.claimed.may_have_answers:
            answers = await db(lambda: {a.node_id: a.for_engine()
                                        for a in HumanAnswer.objects.filter(run_id=run.pk).select_related("answered_by")})
        spec = await version_spec(run.version_id)
        try:
            self.engine = Engine(
                spec, run_id=str(run.pk), providers=providers, checkpoints=recorder, events=recorder,
                prices=PriceTable.from_mapping(settings.KAIZEN_PRICES),
                budget_usd=float(run.budget_usd) if run.budget_usd is not None else None,
                force_provider="simulated" if run.dry_run else None,
                credentials=credential_resolver(run, recorder),
                connections=connection_resolver(run, recorder),  # name -> (base URL, key): the engine sees an Endpoint
                mcp_resolver=mcp_resolver(run, recorder), tools_allow_private=settings.KAIZEN_TOOLS_ALLOW_PRIVATE,
                tool_credentials=tool_credential_resolver(run, recorder),  # with the hosts each key may go to
                memory=build_memory(fence=(run.pk, self.epoch)), memory_owner=run.graph.workspace_id,  # fenced memory writes; a workspace's sessions
                hooks=signals.observe_run(HookManager(), run),  # audit: user hooks, metrics, log context
                answers=answers,  # people's answers to human nodes (graphs/human.py)
                token_sink=self.tokens,
            )
        except GraphInvalid as exc:
            await recorder.finish(status=Run.Status.FAILED, finished_at=timezone.now(),
                                  error={"type": "invalid_graph", "message": str(exc)}, lease_owner="", lease_expires_at=None)
            return Run.Status.FAILED
        watcher = asyncio.ensure_future(self._watch())
        self.task = asyncio.ensure_future(self.engine.run(run.inputs))
        fields: dict[str, Any]
        try:
            try:
                result = await asyncio.shield(self.task)
            except asyncio.CancelledError:
                if not self.task.done():
                    raise
                result = self.task.result()  # (cancelled for a handoff: raises below)
            if result.status == Run.Status.FAILED and result.error:
                log_run_error(run.pk, result.error)
            fields = {
                "status": result.status, "outputs": result.outputs, "error": result.error,
                "cost_usd": Decimal(str(result.cost_usd)), "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
            }
        except ClaimLost as exc:
            return await self._lost(exc)
        except asyncio.CancelledError:
            if self.handoff.is_set() or recorder.lost:
                return await self._lost(recorder._lost or HandedOff("handed off"))
            raise
        except Exception as exc:  # an engine bug must not leave the run hanging in "running"
            if recorder.lost or self.handoff.is_set():
                return await self._lost(recorder._lost or HandedOff("handed off"))
            log.exception("run %s crashed", run.pk)
            fields = {"status": Run.Status.FAILED, "error": {"type": "internal", "message": f"{type(exc).__name__}: {exc}"}}
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await self.tokens.close()
        parked = fields["status"] == Run.Status.WAITING  # a human node waits: no worker, no lease from here
        fields.update(finished_at=None if parked else timezone.now(), cancel_requested=False, lease_owner="", lease_expires_at=None)
        try:
            if not await recorder.finish(**fields):
                return "lost"
        except ClaimLost as exc:
            return await self._lost(exc)
        if parked:  # committed: an answer given meanwhile wakes it now (the handshake in graphs/human.py)
            from ..human import requeue_if_answered

            waiting = [nid for nid, s in result.nodes.items() if s.get("status") == "waiting"]
            await db_retrying(requeue_if_answered, run.pk, waiting)
        return fields["status"]

    async def _lost(self, exc: BaseException) -> str:
        """Stop without writing: the run is someone else's now (or handed off, below)."""
        if isinstance(exc, HandedOff) or self.handoff.is_set():
            return await self._release()
        log.warning("run %s: claim %s lost (%s); stopped without writing", self.run.pk, self.epoch, exc)
        return "lost"

    async def _watch(self) -> None:
        """Renew the lease until the engine is done; read the cancel flag now and then (a
        safety net: cancels are pushed, see graphs/cancel.py).

        A database outage shorter than the lease is survived: a failed beat is retried at the next."""
        assert self.engine is not None
        engine, recorder = self.engine, self.recorder
        loop = asyncio.get_running_loop()
        # The claim just took the lease and read the cancel flag: the first beat and poll come later.
        next_beat, next_poll = loop.time() + settings.KAIZEN_HEARTBEAT_S, loop.time() + settings.KAIZEN_CANCEL_POLL_S
        if self.run.cancel_requested:
            engine.request_cancel("cancelled by user")
            return
        run_id = self.run.pk
        while True:
            now = loop.time()
            try:
                if now >= next_beat:
                    if not await recorder.heartbeat():
                        self._abandon()
                        return
                    next_beat = now + settings.KAIZEN_HEARTBEAT_S
                if now >= next_poll:
                    next_poll = now + settings.KAIZEN_CANCEL_POLL_S
                    if await db(lambda: Run.objects.filter(pk=run_id, cancel_requested=True).exists()):
                        engine.request_cancel("cancelled by user")
                        return
            except Exception as exc:  # the database is away: keep going, the lease outlives a short outage
                log.warning("run %s: heartbeat failed (%s); retrying", run_id, exc)
                next_beat = now + min(0.5, settings.KAIZEN_HEARTBEAT_S)
            await asyncio.sleep(max(0.01, min(next_beat, next_poll) - loop.time()))

    async def check_cancel(self) -> None:
        """Cancel the engine if the run's cancel flag is set (the database is the truth)."""
        run_id = self.run.pk
        try:
            wanted = await db(lambda: Run.objects.filter(pk=run_id, epoch=self.epoch, cancel_requested=True).exists())
        except Exception:
            return  # (the watcher's poll reads it again)
        if wanted and self.engine is not None:
            self.engine.request_cancel("cancelled by user")

    def _abandon(self) -> None:
        """Our claim is gone: stop the engine at once (in-flight HTTP requests are aborted)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()

    # -- graceful handoff ---------------------------------------------------------------------
    async def hand_off(self, grace_s: float) -> None:
        """Stop starting LLM calls, give the calls in flight ``grace_s`` to finish and be saved,
        then stop the engine without writing anything more (the driver then releases the run)."""
        if self.task is None or self.task.done() or self.handoff.is_set():
            return
        self.handoff.set()
        self.recorder.pause_calls()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while loop.time() < deadline and not self.task.done():
            if self._quiet():
                break
            await asyncio.sleep(0.05)
        if self.task.done():
            return
        await self.recorder.seal()  # everything received so far is durable; nothing after it is written
        self.task.cancel()

    def _quiet(self) -> bool:
        """Every running node waits at the paused gate: no LLM call is in flight."""
        assert self.engine is not None
        running = sum(1 for s in self.engine.states.values() if s.status == "running")
        return self.recorder.paused_waiters >= running

    async def _release(self) -> str:
        """Give the run back (lease released, message re-sent) and say so in its events."""
        run_id, epoch, recorder = self.run.pk, self.epoch, self.recorder
        await recorder.unseal_for_handoff()
        try:
            await recorder.emit(str(run_id), "run_handed_off", None, {"from_worker": self.owner, "reason": "worker shutting down"})
            await recorder.flush()
            # Released (claimable at once), with the sweeper's grace: should the message we send
            # now be lost, the sweeper re-sends it when the grace lapses.
            grace = timezone.now() + timedelta(seconds=settings.KAIZEN_REQUEUE_AFTER_S)
            released = await db(lambda: Run.objects.filter(pk=run_id, epoch=epoch).update(
                lease_owner="", lease_expires_at=grace, enqueued_at=timezone.now()))
        except Exception:
            log.exception("run %s: could not release it; its lease will lapse", run_id)
            return "lost"
        if released:
            dispatch.send_run(run_id)
            log.warning("run %s handed off by %s", run_id, self.owner)
        return "handed_off"


_ACTIVE: dict[int, _Driver] = {}


def hand_off_all(grace_s: float | None = None) -> None:
    """SIGTERM: hand every run of this process off (blocks until each is released or done)."""
    global _draining
    _draining = True
    grace = settings.KAIZEN_SHUTDOWN_GRACE_S if grace_s is None else grace_s

    async def all_of_them() -> None:
        await asyncio.gather(*(d.hand_off(grace) for d in list(_ACTIVE.values())), return_exceptions=True)

    if _ACTIVE:
        runloop.run(all_of_them())
