"""Drive one run on this worker: claim its lease, run the engine, heartbeat, obey cancel.

A run is claimed with one conditional UPDATE, so of two deliveries of the same message only one
executes; a worker that dies stops heartbeating, its lease lapses, and the sweeper hands the
run to another worker, which resumes from the checkpoints.
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
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit import hooks as audit_hooks

from . import runloop
from .adapters import RunRecorder
from .credentials import credential_resolver
from .engine.llm import PriceTable, ProviderRegistry
from .engine.llm.openai_provider import OpenAIProvider
from .engine.llm.simulated import SimulatedProvider
from .engine.runtime import Engine
from .engine.validate import GraphInvalid
from .memory_adapter import build_memory
from .models import Run

log = logging.getLogger(__name__)
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def claim(run_id: int, owner: str) -> bool:
    now = timezone.now()
    lease = now + timedelta(seconds=settings.KAIZEN_LEASE_S)
    runnable = Q(status=Run.Status.QUEUED) | Q(status=Run.Status.RUNNING) & (Q(lease_expires_at__lt=now) | Q(lease_owner=""))
    return bool(
        Run.objects.filter(runnable, pk=run_id).update(
            status=Run.Status.RUNNING, lease_owner=owner, lease_expires_at=lease, claims=F("claims") + 1,
            started_at=Coalesce(F("started_at"), Value(now)),
        )
    )


def build_providers() -> tuple[ProviderRegistry, OpenAIProvider]:
    openai_provider = OpenAIProvider(settings.OPENAI_BASE_URL or None, settings.OPENAI_API_KEY or None,
                                     max_retries=settings.KAIZEN_LLM_MAX_RETRIES,
                                     allow_private=settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS)
    simulated = SimulatedProvider(latency_s=settings.KAIZEN_SIMULATED_LATENCY_S)
    registry = ProviderRegistry({"openai": openai_provider, "simulated": simulated}, settings.KAIZEN_DEFAULT_PROVIDER)
    return registry, openai_provider


def execute_run(run_id: int) -> str | None:
    """Claim and execute a run to a final (or interrupted) state; None if it was not ours to run."""
    owner = f"{WORKER_ID}:{uuid.uuid4().hex[:8]}"
    if not claim(run_id, owner):
        return None
    run = Run.objects.select_related("version", "graph").get(pk=run_id)
    return runloop.run(_drive(run, owner))


async def _drive(run: Run, owner: str) -> str:
    recorder = RunRecorder(run.pk)
    providers, openai_provider = build_providers()
    mine = Run.objects.filter(pk=run.pk, lease_owner=owner)
    try:
        engine = Engine(
            run.version.spec, run_id=str(run.pk), providers=providers, checkpoints=recorder, events=recorder,
            prices=PriceTable.from_mapping(settings.KAIZEN_PRICES),
            budget_usd=float(run.budget_usd) if run.budget_usd is not None else None,
            force_provider="simulated" if run.dry_run else None,
            credentials=credential_resolver(run, recorder),
            memory=build_memory(), memory_owner=run.created_by_id,  # agents' conversation memory
            hooks=audit_hooks.attach(audit_hooks.HookManager(), run),  # audit: user hooks, metrics, log context
        )
    except GraphInvalid as exc:
        error = {"type": "invalid_graph", "message": str(exc)}
        await recorder.db(lambda: mine.update(status=Run.Status.FAILED, finished_at=timezone.now(), error=error))
        await recorder.close()
        return Run.Status.FAILED
    watcher = asyncio.ensure_future(_watch(engine, recorder, mine))
    try:
        result = await engine.run(run.inputs)
        fields: dict[str, Any] = {
            "status": result.status, "outputs": result.outputs, "error": result.error,
            "cost_usd": Decimal(str(result.cost_usd)), "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens, "lease_owner": "", "lease_expires_at": None,
        }
    except Exception as exc:  # an engine bug must not leave the run hanging in "running"
        log.exception("run %s crashed", run.pk)
        fields = {"status": Run.Status.FAILED, "error": {"type": "internal", "message": f"{type(exc).__name__}: {exc}"},
                  "lease_owner": "", "lease_expires_at": None}
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await recorder.flush()
        await openai_provider.aclose()
    fields["finished_at"] = timezone.now()
    fields["last_seq"] = recorder.last_seq
    fields["cancel_requested"] = False
    await recorder.db(lambda: mine.update(**fields))
    await recorder.close()
    return fields["status"]


async def _watch(engine: Engine, recorder: RunRecorder, mine) -> None:
    """Renew the lease and watch for a cancel request, until the engine is done."""
    loop = asyncio.get_running_loop()
    next_beat = 0.0
    while True:
        now = loop.time()
        if now >= next_beat:
            lease = timezone.now() + timedelta(seconds=settings.KAIZEN_LEASE_S)
            seq = recorder.last_seq
            renewed = await recorder.db(lambda: mine.update(lease_expires_at=lease, last_seq=seq))  # noqa: B023 (awaited at once)
            if not renewed:  # someone took the run over (we were presumed dead): stop quietly
                engine.request_cancel("lease lost to another worker")
                return
            next_beat = now + settings.KAIZEN_HEARTBEAT_S
        if await recorder.db(lambda: mine.filter(cancel_requested=True).exists()):
            engine.request_cancel("cancelled by user")
            return
        await asyncio.sleep(settings.KAIZEN_CANCEL_POLL_S)
