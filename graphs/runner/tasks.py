"""Celery tasks: ids in, rows reloaded, services called."""

from __future__ import annotations

from celery import shared_task

from ..dispatch import RUN_EXECUTE, RUNS_SWEEP
from ..services import runs_sweep
from .execution import execute_run


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True, name=RUN_EXECUTE)
def run_execute(run_id: int) -> str | None:
    """Execute (or resume) a run; a duplicate delivery finds the run claimed and returns."""
    return execute_run(run_id)


@shared_task(ignore_result=True, name=RUNS_SWEEP)
def runs_sweep_task() -> list[int]:
    return runs_sweep()
