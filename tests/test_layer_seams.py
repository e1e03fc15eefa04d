"""The seams between the layers (README, "What is where"): what crosses them by name or by
subscription must still arrive."""

from __future__ import annotations

import threading

from graphs import cancel, dispatch, signals


def test_the_worker_registers_the_tasks_under_the_names_the_web_side_sends():
    from kaizen_web.celery import app

    app.loader.import_default_modules()  # what `celery -A kaizen_web worker` does at start
    assert dispatch.RUN_EXECUTE in app.tasks
    assert dispatch.RUNS_SWEEP in app.tasks
    assert app.tasks[dispatch.RUN_EXECUTE].acks_late


def test_audit_subscribes_to_what_graphs_publishes():
    from audit import hooks, services

    assert services.record_action in signals._actions.values()
    assert hooks.attach in signals._runs.values()
    assert signals.event_copy() is services.RUN_EVENT_COPY
    assert "run_id" in services.RUN_EVENT_COPY.columns


def test_an_embedded_cancel_reaches_the_worker_of_this_process(settings):
    """No Redis: the announcement goes to the run loop of this process, which asks the run's
    driver to read its cancel flag."""
    from graphs.runner import execution

    settings.REDIS_URL = ""
    asked = threading.Event()

    class Driver:  # stands in for a run in flight (its engine is running)
        engine = object()

        async def check_cancel(self) -> None:
            asked.set()

    execution._ACTIVE[-42] = Driver()
    try:
        cancel.announce(-42)
        assert asked.wait(10)
    finally:
        execution._ACTIVE.pop(-42, None)
