"""Human nodes through real Celery workers, PostgreSQL and Redis: a run parks on an approval,
holds no worker, and finishes after an answer through the API; rejection takes the reject
branch; input answers are validated against their JSON Schema; timeouts take their default."""

from __future__ import annotations

import time

from rest_framework.test import APIClient

from audit.models import AuditEntry
from graphs.models import HumanAnswer, Run, RunEvent
from tests.engine.test_node_human import approval_graph
from tests.helpers import agent, edge, wait_for_run, wait_until
from tests.test_worker_e2e import assert_contiguous_events, start_run


def active_tasks(worker_name: str) -> list:
    """What the worker process is executing now, as Celery's remote control reports it."""
    from kaizen_web.celery import app

    replies = app.control.inspect(timeout=5).active() or {}
    mine = [tasks for name, tasks in replies.items() if name.startswith(f"{worker_name}@")]
    assert mine, f"no reply from worker {worker_name}: {replies}"
    return mine[0]


def test_an_approval_parks_the_run_without_a_worker_and_an_answer_finishes_it(user, celery_worker, fake_llm):
    fake_llm.script(match="side:", latency=1.0)  # a branch beside the approval keeps running after it waits
    client, run_id = start_run(user, approval_graph(), {"task": "t"})
    run = wait_for_run(run_id, 60, statuses={"waiting", "failed", "succeeded"})
    assert run.status == "waiting", run.error
    assert run.lease_owner == "" and run.lease_expires_at is None and run.finished_at is None
    names = list(RunEvent.objects.filter(run_id=run_id).values_list("event", flat=True))
    assert names[-1] == "run_waiting" and "run_finished" not in names
    assert names.index("node_waiting") < max(i for i, n in enumerate(names) if n == "post_node"), \
        "the side branch finished after the approval started waiting"
    wait_until(lambda: active_tasks("w1") == [], 20, message="the worker holds no run")
    body = client.get(f"/api/runs/{run_id}/").data
    assert body["status"] == "waiting" and body["waiting"]["approve"]["inputs"] == {"subject": "ok"}
    assert client.get("/api/runs/?status=waiting").data[0]["id"] == run_id
    time.sleep(4)  # past the lease (3 s) and many sweeps (0.5 s): the sweeper leaves it alone
    run.refresh_from_db()
    assert run.status == "waiting" and run.claims == 1

    bad = client.post(f"/api/runs/{run_id}/answer/", {"node": "approve", "answer": {"action": "maybe"}}, format="json")
    assert bad.status_code == 400 and bad.data["errors"][0]["path"] == "answer.action", bad.data
    answered = client.post(f"/api/runs/{run_id}/answer/", {"node": "approve", "answer": {"action": "approve", "comment": "ship it"}},
                           format="json")
    assert answered.status_code == 202, answered.data
    again = client.post(f"/api/runs/{run_id}/answer/", {"node": "approve", "answer": {"action": "reject"}}, format="json")
    assert again.status_code == 409
    run = wait_for_run(run_id, 60)
    assert run.status == "succeeded", run.error
    assert run.outputs["published"] == "ok" and "revised" not in run.outputs
    event = RunEvent.objects.get(run_id=run_id, event="human_answered")
    assert event.node_id == "approve" and event.data["by"] == "alice" and event.data["answer"]["comment"] == "ship it"
    entry = AuditEntry.objects.get(event="run.answered")
    assert entry.actor_id == user.pk and entry.node_id == "approve"
    assert_contiguous_events(run_id)
    assert len(fake_llm.calls("draft:")) == 1 and len(fake_llm.calls("side:")) == 1, "resumed from checkpoints"


def test_a_rejection_takes_the_reject_branch(user, celery_worker, fake_llm):
    client, run_id = start_run(user, approval_graph(comment_required=True), {"task": "t"})
    wait_for_run(run_id, 60, statuses={"waiting"})
    missing = client.post(f"/api/runs/{run_id}/answer/", {"node": "approve", "answer": {"action": "reject"}}, format="json")
    assert missing.status_code == 400 and missing.data["errors"][0]["path"] == "answer.comment"
    assert client.post(f"/api/runs/{run_id}/answer/", {"node": "approve", "answer": {"action": "reject", "comment": "no"}},
                       format="json").status_code == 202
    run = wait_for_run(run_id, 60)
    assert run.status == "succeeded", run.error
    assert run.outputs["revised"] == "ok" and "published" not in run.outputs
    states = {n: s["status"] for n, s in client.get(f"/api/runs/{run_id}/").data["nodes"].items()}
    assert states["publish"] == "skipped" and states["revise"] == "succeeded"


def input_graph():
    schema = {"type": "object", "required": ["name", "age"], "properties": {
        "name": {"type": "string", "minLength": 1, "title": "Name"}, "age": {"type": "integer", "minimum": 0, "title": "Age"}}}
    return {"inputs": {}, "outputs": {"greeting": {"type": "string"}},
            "nodes": [{"id": "ask", "kind": "input", "position": {"x": 300, "y": 0}, "config": {"question": "Who are you?", "schema": schema}},
                      agent("greet", ["name"], ["greeting"], x=650, instructions="greet: {{name}}")],
            "edges": [edge("ask", "name", "greet", "name"), edge("greet", "greeting", "@outputs", "greeting")]}


def test_an_input_answer_is_validated_against_its_schema(user, celery_worker, fake_llm):
    fake_llm.script(match="greet: Ada", reply={"greeting": "hello Ada"})
    client, run_id = start_run(user, input_graph(), {})
    wait_for_run(run_id, 60, statuses={"waiting"})
    form = client.get(f"/api/runs/{run_id}/").data["waiting"]["ask"]["form"]
    assert form["properties"]["age"]["type"] == "integer"
    bad = client.post(f"/api/runs/{run_id}/answer/", {"node": "ask", "answer": {"name": "Ada", "age": -3}}, format="json")
    assert bad.status_code == 400 and bad.data["errors"][0]["path"] == "answer.age", bad.data
    assert not HumanAnswer.objects.exists()
    ok = client.post(f"/api/runs/{run_id}/answer/", {"node": "ask", "answer": {"name": "Ada", "age": 36}}, format="json")
    assert ok.status_code == 202
    run = wait_for_run(run_id, 60)
    assert run.status == "succeeded" and run.outputs == {"greeting": "hello Ada"}, run.error


def test_a_timeout_takes_the_default_action(user, celery_worker, fake_llm):
    _client, run_id = start_run(user, approval_graph(answer_timeout_s=1, on_timeout="reject"), {"task": "t"})
    run = wait_for_run(run_id, 60)  # the worker's sweeper answers for nobody after 1 s
    assert run.status == "succeeded", run.error
    assert run.outputs["revised"] == "ok"
    answer = HumanAnswer.objects.get(run_id=run_id)
    assert answer.source == "timeout" and answer.answered_by is None and answer.answer["action"] == "reject"
    assert AuditEntry.objects.filter(event="run.answer_timeout", run_id=run_id).exists()


def test_others_cannot_answer(user, other_user, celery_worker, fake_llm):
    _client, run_id = start_run(user, approval_graph(), {"task": "t"})
    wait_for_run(run_id, 60, statuses={"waiting"})
    stranger = APIClient()
    stranger.force_authenticate(other_user)
    response = stranger.post(f"/api/runs/{run_id}/answer/", {"node": "approve", "answer": {"action": "approve"}}, format="json")
    assert response.status_code == 404
    assert Run.objects.get(pk=run_id).status == "waiting"


def test_an_answer_given_while_other_branches_still_run_is_not_lost(user, celery_worker, fake_llm):
    """The handshake: the answer is stored while the run is still running (the side branch takes
    its time); the worker parks the run, finds the answer and re-enqueues it at once."""
    from graphs.models import NodeState

    fake_llm.script(match="side:", latency=3.0)
    client, run_id = start_run(user, approval_graph(), {"task": "t"})
    wait_until(lambda: NodeState.objects.filter(run_id=run_id, node_id="approve", status="waiting").exists(), 60,
               message="the approval waits")
    assert Run.objects.get(pk=run_id).status == "running", "the side branch is still running"
    answered = client.post(f"/api/runs/{run_id}/answer/", {"node": "approve", "answer": {"action": "approve", "comment": ""}},
                           format="json")
    assert answered.status_code == 202, answered.data
    run = wait_for_run(run_id, 60)
    assert run.status == "succeeded" and run.outputs["published"] == "ok", run.error
    names = list(RunEvent.objects.filter(run_id=run_id).values_list("event", flat=True))
    assert names.count("run_waiting") == 1 and names.count("run_resumed") == 1 and names[-1] == "run_finished"
    assert_contiguous_events(run_id)
