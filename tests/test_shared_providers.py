"""A worker's runs share its provider clients (graphs/runner/execution.py build_providers): executed
in-process on the run loop, against PostgreSQL and the scripted LLM server over HTTP."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from graphs.engine.llm import LLMRequest
from graphs.engine.llm.clients import FILL, shared_pool
from graphs.models import Graph, GraphVersion, Run
from graphs.runner import runloop
from graphs.runner.execution import build_providers, execute_run
from tests.helpers import chain, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def new_run(user, spec, task: str) -> Run:
    graph = Graph.objects.create(owner=user, name="shared")
    version = GraphVersion.objects.create(graph=graph, number=1, spec=spec, created_by=user)
    return Run.objects.create(graph=graph, version=version, created_by=user, inputs={"task": task})


async def _pool_built() -> int:
    return shared_pool().built


def test_a_run_finishing_does_not_close_the_clients_of_a_run_still_calling(user, fake_llm, caplog):
    """Run B's call is in flight (slow answer) when run A finishes; B's call and a later call
    from outside any run both succeed, and the worker built one set of clients, not one per run."""
    caplog.set_level(logging.INFO)
    fake_llm.script(match="slow", latency=1.0)
    fast = new_run(user, chain(1), "quick")
    slow = new_run(user, chain(1), "slow")
    built_before = runloop.run(_pool_built())
    results: dict[int, str | None] = {}
    thread = threading.Thread(target=lambda: results.setdefault(slow.pk, execute_run(slow.pk)))
    thread.start()
    wait_until(lambda: fake_llm.calls("slow"), 10, message="run B's call in flight")
    results[fast.pk] = execute_run(fast.pk)
    assert results[fast.pk] == "succeeded"
    assert not fake_llm.calls("slow", completed=True), "A finished first"
    thread.join(30)
    assert results[slow.pk] == "succeeded", Run.objects.get(pk=slow.pk).error

    async def after_both_runs() -> str:  # as a task that outlived its run would
        provider = build_providers().get("openai")
        answers = await asyncio.gather(*(provider.complete(LLMRequest(model="m", messages=[{"role": "user", "content": f"late {i}"}]))
                                         for i in range(FILL)))
        return answers[0].content

    assert runloop.run(after_both_runs())
    assert runloop.run(_pool_built()) - built_before <= 1  # (FILL calls at once fit one client; 0 if an earlier test made it)
    assert build_providers() is build_providers()
    assert "client has been closed" not in caplog.text
