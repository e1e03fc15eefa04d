"""A webhook subscribed to run_waiting tells its receiver that a run waits for a person, with
the waiting node's question and form (through a real worker)."""

from __future__ import annotations

from audit import services as audit_services
from graphs import services
from tests.engine.test_node_human import approval_graph
from tests.helpers import wait_for_run, wait_until


def test_a_webhook_hears_that_a_run_waits(user, start_worker, fake_llm, receiver):
    start_worker("w1")
    server = receiver([200])
    graph = services.graph_create(owner=user, name="gate", spec=approval_graph(question="Ship it?")).graph
    audit_services.hook_create(graph=graph, user=user, kind="webhook", url=server.url, events=["run_waiting"])
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    wait_for_run(run.pk, 60, statuses={"waiting"})
    wait_until(lambda: server.payloads(), 20, message="the run_waiting webhook")
    [payload] = server.payloads()
    assert payload["event"] == "run_waiting" and payload["run_id"] == run.pk
    [waiting] = payload["data"]["waiting"]
    assert waiting["node"] == "approve" and waiting["question"] == "Ship it?" and waiting["kind"] == "approval"
