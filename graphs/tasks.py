"""Celery tasks: ids in, rows reloaded, services called."""

from __future__ import annotations

from celery import shared_task

from .execution import execute_run
from .services import runs_sweep


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True, name="graphs.run_execute")
def run_execute(run_id: int) -> str | None:
    """Execute (or resume) a run; a duplicate delivery finds the run claimed and returns."""
    return execute_run(run_id)


@shared_task(ignore_result=True, name="graphs.runs_sweep")
def runs_sweep_task() -> list[int]:
    from .human import human_timeouts

    human_timeouts()
    return runs_sweep()
