"""The run queue: how a run's message is sent. By task name, so that what sends (the web side's
services, a worker handing a run back) needs none of the worker's modules; graphs/runner/tasks.py
registers the task under this name (Celery messages carry it: never rename it)."""

from __future__ import annotations

from celery import current_app

RUN_EXECUTE = "graphs.run_execute"
RUNS_SWEEP = "graphs.runs_sweep"


def send_run(run_id: int, task_id: str | None = None) -> str:
    """Send ``run_id``'s message now (the caller commits first); returns the message's task id."""
    result = current_app.send_task(RUN_EXECUTE, args=[run_id], task_id=task_id)
    return str(result.id or "")
