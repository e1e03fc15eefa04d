"""Runs through real Celery worker processes, PostgreSQL and Redis, against the scripted LLM."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from graphs.models import Checkpoint, NodeState, Run, RunEvent
from tests.helpers import chain, wait_for_run, wait_until


def start_run(user, spec, inputs, **extra):
    client = APIClient()
    client.force_authenticate(user)
    created = client.post("/api/graphs/", {"name": "e2e", "spec": spec}, format="json")
    assert created.status_code == 201, created.data
    response = client.post(f"/api/graphs/{created.data['id']}/runs/", {"inputs": inputs, **extra}, format="json")
    assert response.status_code == 202, response.data
    return client, response.data["id"]


def assert_contiguous_events(run_id):
    seqs = list(RunEvent.objects.filter(run_id=run_id).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)), "event seq must be contiguous from 1"
    return seqs


def test_three_node_run_end_to_end(user, celery_worker, fake_llm):
    fake_llm.script(match="step 3", reply={"result": "final answer"})
    client, run_id = start_run(user, chain(3), {"task": "write"})
    run = wait_for_run(run_id, 30)
    assert run.status == "succeeded", run.error
    body = client.get(f"/api/runs/{run_id}/").data
    assert body["outputs"] == {"result": "final answer"}
    assert body["tokens"]["total"] > 0 and body["cost_usd"] > 0
    assert {n: s["status"] for n, s in body["nodes"].items()} == {"s1": "succeeded", "s2": "succeeded", "s3": "succeeded"}
    seqs = assert_contiguous_events(run_id)
    events = client.get(f"/api/runs/{run_id}/events/?after=0").data["events"]
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_finished"
    later = client.get(f"/api/runs/{run_id}/events/?after={seqs[-3]}").data["events"]
    assert [e["seq"] for e in later] == seqs[-2:]
    assert Checkpoint.objects.filter(run_id=run_id, status="succeeded").count() == 3
    assert len(fake_llm.calls()) == 3 and fake_llm.calls()[0]["authorization"] == "Bearer test-key"


@pytest.mark.slow
def test_killed_worker_run_is_finished_by_another_without_repeating_llm_calls(user, start_worker, fake_llm):
    fake_llm.script(latency=0.6)
    worker_a = start_worker("a")
    _client, run_id = start_run(user, chain(5), {"task": "etl"})
    # Kill A while node 3 is in flight: nodes 1-2 are checkpointed, node 3's answer never arrives.
    wait_until(lambda: NodeState.objects.filter(run_id=run_id, node_id="s2", status="succeeded").exists(), 30, message="s2 done")
    wait_until(lambda: fake_llm.calls("step 3"), 10, message="step 3 in flight")
    worker_a.kill()
    start_worker("b")
    run = wait_for_run(run_id, 60)
    assert run.status == "succeeded", run.error
    assert run.claims == 2, "a second worker took the run over"
    for step in range(1, 6):
        answered = fake_llm.calls(f"step {step}:", completed=True)
        assert len(answered) == 1, f"step {step} answered {len(answered)} times"
    assert len(fake_llm.calls("step 1:")) == 1 and len(fake_llm.calls("step 2:")) == 1, "finished nodes were not re-run"
    names = list(RunEvent.objects.filter(run_id=run_id).values_list("event", flat=True))
    assert "run_resumed" in names and names[-1] == "run_finished"
    assert_contiguous_events(run_id)


def test_cancel_stops_a_running_run_fast_and_resume_continues(user, start_worker, fake_llm):
    """The cancel is pushed to the worker (Redis pub/sub): with the database poll slowed to an
    hour, the run is cancelled and its call in flight abandoned long before the call's scripted
    90 s could end. Judged by the fake LLM's record of that call, not by a stopwatch."""
    start_worker("w1", KAIZEN_CANCEL_POLL_S="3600")  # (it looks once, at the start: only a push can cancel)
    slow = fake_llm.script(match="step 2", latency=90)
    client, run_id = start_run(user, chain(3), {"task": "t"})
    wait_until(lambda: fake_llm.calls("step 2"), 20, message="step 2 in flight")
    assert client.post(f"/api/runs/{run_id}/cancel/").status_code == 202
    run = wait_for_run(run_id, 80)  # (a deadline for a stuck test, under the 90 s the call would take)
    assert run.status == "cancelled", run.status
    [call] = fake_llm.calls("step 2")
    # (the fake notes aborted_at only when the client hangs up before the scripted latency is over)
    wait_until(lambda: "aborted_at" in call, 10, message="the worker hung up on step 2 before its 90 s were over")
    assert not call["completed"], "the in-flight request was abandoned"
    states = {n.node_id: n.status for n in NodeState.objects.filter(run_id=run_id)}
    assert states["s1"] == "succeeded" and states["s2"] == "cancelled"
    fake_llm.rules.remove(slow)
    assert client.post(f"/api/runs/{run_id}/resume/", {}, format="json").status_code == 202
    run = wait_for_run(run_id, 30)
    assert run.status == "succeeded", run.error
    assert len(fake_llm.calls("step 1")) == 1, "s1 was restored from its checkpoint"
    assert_contiguous_events(run_id)


def test_a_delivered_run_message_is_not_kept_in_an_unacked_copy(user, celery_worker, fake_llm):
    """The broker runs without kombu's ack emulation (settings: CELERY_BROKER_TRANSPORT_OPTIONS):
    while a worker executes a run, Redis holds no copy of its message in kombu's unacked hash and
    index (two pipelines per run on the worker's consumer thread); the sweeper re-sends what a dead
    worker held (the tests beside this one)."""
    import redis
    from django.conf import settings

    fake_llm.script(match="step 1", latency=1.5)
    _client, run_id = start_run(user, chain(1), {"task": "held"})
    wait_until(lambda: fake_llm.calls("step 1"), 20, message="the run's call is in flight")
    broker = redis.Redis.from_url(settings.REDIS_URL)
    try:
        assert Run.objects.get(pk=run_id).status == Run.Status.RUNNING
        assert broker.hlen("unacked") == 0 and broker.zcard("unacked_index") == 0
    finally:
        broker.close()
    assert wait_for_run(run_id, 30).status == "succeeded"


def test_accepted_run_whose_message_was_lost_is_requeued(user, start_worker, fake_llm, django_capture_on_commit_callbacks):
    from graphs import services
    from graphs.models import Graph

    graph = services.graph_create(owner=user, name="lost", spec=chain(1)).graph
    # Accept the run but drop its message, as a broker restart would.
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    Run.objects.filter(pk=run.pk).update(enqueued_at=run.enqueued_at.replace(year=2000))
    assert Graph.objects.count() == 1
    start_worker("sweeper", KAIZEN_REQUEUE_AFTER_S="1")
    finished = wait_for_run(run.pk, 20)
    assert finished.status == "succeeded", finished.error


def test_a_workers_database_connections_do_not_grow_with_its_concurrent_runs(user, start_worker, fake_llm):
    """Twenty runs in flight at once on one worker: its connections stay those of its database
    threads (KAIZEN_WORKER_DB_THREADS), the group-commit writer and the sweeper, not one per run
    (each run's hooks once kept a thread, and its connection, for as long as the run lasted)."""
    from django.db import connection

    from graphs import services

    runs_at_once, db_threads = 20, 3
    s = connection.settings_dict
    url = (f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
           "?application_name=kz-conn-test")
    start_worker("w1", concurrency=runs_at_once, DATABASE_URL=url, KAIZEN_WORKER_DB_THREADS=str(db_threads))
    fake_llm.script(latency=3)
    graph = services.graph_create(owner=user, name="many", spec=chain(1)).graph
    run_ids = [services.run_start(graph=graph, user=user, inputs={"task": f"t{i}"}).pk for i in range(runs_at_once)]

    def sample() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute("select count(*) from pg_stat_activity where application_name = 'kz-conn-test'")
            conns = cursor.fetchone()[0]
        return Run.objects.filter(pk__in=run_ids, status="running").count(), conns

    peak_running = peak_conns = 0
    deadline = time.monotonic() + 120
    while not all(Run.objects.get(pk=r).status in ("succeeded", "failed") for r in run_ids):
        running, conns = sample()
        peak_running, peak_conns = max(peak_running, running), max(peak_conns, conns)
        time.sleep(0.1)
        assert time.monotonic() < deadline, "the runs did not finish"
    assert peak_running >= runs_at_once - 2, f"only {peak_running} runs were in flight at once: the check proves nothing"
    assert 1 <= peak_conns <= db_threads + 3, f"{peak_conns} connections for {peak_running} concurrent runs"
    assert all(Run.objects.get(pk=r).status == "succeeded" for r in run_ids)
