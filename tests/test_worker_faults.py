"""Runs stay correct when a worker freezes past its lease or is stopped for a deploy: real worker
processes, PostgreSQL, Redis and the scripted LLM server (each worker has its own API key, so
the server can tell who asked)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from graphs.models import NodeState, Run, RunEvent
from tests.helpers import chain, wait_for_run, wait_until
from tests.test_worker_e2e import assert_contiguous_events, start_run

pytestmark = pytest.mark.slow


def _held_by(worker) -> set[int]:
    return set(Run.objects.filter(status="running", lease_owner__contains=f":{worker.proc.pid}:").values_list("pk", flat=True))


def _assert_clean_log(run_id: int) -> list[str]:
    assert_contiguous_events(run_id)
    names = list(RunEvent.objects.filter(run_id=run_id).order_by("seq").values_list("event", flat=True))
    assert names.count("run_finished") == 1 and names[-1] == "run_finished", names[-8:]
    return names


def test_a_frozen_worker_writes_nothing_and_calls_nothing_after_it_thaws(user, start_worker, fake_llm):
    """SIGSTOP a worker past its lease (a GC pause, a swapped-out VM), let another take its runs
    over, SIGCONT it: every run succeeds once, with a contiguous log, and the thawed worker
    starts no LLM call and overwrites no node state."""
    fake_llm.script(latency=0.4)
    frozen = start_worker("a", concurrency=8, OPENAI_API_KEY="key-a")
    runs = [start_run(user, chain(5), {"task": f"job-{i}"})[1] for i in range(6)]
    wait_until(lambda: len(_held_by(frozen)) == len(runs), 30, message="worker a holds every run")
    wait_until(lambda: NodeState.objects.filter(run_id__in=runs, status="succeeded").count() >= 6, 30, message="progress")
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        held = set(runs)
        rescuer = start_worker("b", concurrency=8, OPENAI_API_KEY="key-b")
        # b's sweeper hands a's runs over once their leases lapse (3 s in tests)
        wait_until(lambda: not (_held_by(frozen) & held) and len(_held_by(rescuer)) + Run.objects.filter(
            pk__in=runs, status="succeeded").count() == len(runs), 40, message="b took every run over")
    finally:
        thawed_at = time.time()
        frozen.proc.send_signal(signal.SIGCONT)
    for run_id in runs:
        run = wait_for_run(run_id, 60)
        assert run.status == "succeeded", run.error
        assert run.epoch >= 2, "the run was claimed again"
        _assert_clean_log(run_id)
        assert set(NodeState.objects.filter(run_id=run_id).values_list("status", flat=True)) == {"succeeded"}
    time.sleep(1.5)  # would the thawed worker still do something?
    late = [c for c in fake_llm.calls() if c["authorization"] == "Bearer key-a" and c["at"] > thawed_at]
    assert late == [], f"the thawed worker started {len(late)} LLM calls"
    for run_id in runs:
        _assert_clean_log(run_id)
    assert frozen.proc.poll() is None, "the thawed worker is alive (and idle)"
    # every step of every run was answered for the record at least once, and its journal holds one answer
    for run_id in runs:
        for state in NodeState.objects.filter(run_id=run_id):
            assert len(state.data["llm_calls"]) == 1


def test_sigterm_hands_the_run_to_another_worker_at_once(user, start_worker, fake_llm):
    """A deploy: SIGTERM the worker mid-chain. The call in flight finishes and is saved, the run
    is released and re-sent, another worker resumes it, no finished node is called again, and no
    false failure is written. The lease and the sweeper's re-send of a released run are an hour
    away here: a run that resumes at all was re-sent by the release."""
    fake_llm.script(latency=1.0)
    hour = {"KAIZEN_LEASE_S": "3600", "KAIZEN_REQUEUE_AFTER_S": "3600"}
    workers = {"key-a": start_worker("a", OPENAI_API_KEY="key-a", **hour),
               "key-b": start_worker("b", OPENAI_API_KEY="key-b", **hour)}
    _client, run_id = start_run(user, chain(5), {"task": "deploy"})
    # (whichever worker the broker hands the run to is the one that leaves)
    leaving_key = wait_until(lambda: next((k for k, w in workers.items() if _held_by(w)), None), 20,
                             message="a worker holds the run")
    taking_key = next(k for k in workers if k != leaving_key)
    leaving, taking = workers[leaving_key], workers[taking_key]
    wait_until(lambda: NodeState.objects.filter(run_id=run_id, node_id="s1", status="succeeded").exists(), 30, message="s1 done")
    wait_until(lambda: fake_llm.calls("step 2"), 10, message="step 2 in flight")
    os.kill(leaving.proc.pid, signal.SIGTERM)
    run = wait_for_run(run_id, 60)
    assert run.status == "succeeded", run.error
    names = _assert_clean_log(run_id)
    events = list(RunEvent.objects.filter(run_id=run_id).order_by("seq"))
    handed = next(e for e in events if e.event == "run_handed_off")
    resumed = next(e for e in events if e.event == "run_resumed")
    assert handed.seq < resumed.seq and handed.data["from_worker"]
    assert run.claims == 2 and "re-enqueued runs" not in taking.log_path.read_text(), "re-sent by the release, not swept"
    assert "on_error" not in names and all(e.data.get("status") != "failed" for e in events if e.event == "post_node")
    for step in range(1, 6):
        answered = fake_llm.calls(f"step {step}:", completed=True)
        assert len(answered) == 1, f"step {step} answered {len(answered)} times"
    assert {c["authorization"] for c in fake_llm.calls("step 2:")} == {f"Bearer {leaving_key}"}, "the leaving worker finished step 2 in its grace"
    assert {c["authorization"] for c in fake_llm.calls("step 5:")} == {f"Bearer {taking_key}"}
    assert leaving.proc.wait(20) is not None


@pytest.mark.timeout(300)
def test_a_poison_run_is_stopped_naming_its_node(user, start_worker, fake_llm):
    """Every worker that takes the run dies at the same node (here: killed whenever step 2 is in
    flight): after KAIZEN_MAX_CLAIMS deaths without a new checkpoint it fails, naming s2."""
    fake_llm.script(match="step 2", latency=60)
    extra = {"KAIZEN_MAX_CLAIMS": "3", "KAIZEN_LEASE_S": "5"}
    workers = [start_worker("w0", **extra)]
    _client, run_id = start_run(user, chain(3), {"task": "poison"})
    for death in range(1, 10):
        wait_until(lambda n=death: len(fake_llm.calls("step 2")) >= n or Run.objects.get(pk=run_id).status == "failed",
                   60, message=f"step 2 reached (death {death})")
        if Run.objects.get(pk=run_id).status == "failed":
            break
        workers[-1].kill()
        workers.append(start_worker(f"w{death}", **extra))
    run = wait_for_run(run_id, 60)
    assert run.status == "failed" and run.error["type"] == "worker_lost", run.error
    assert run.error["node"] == "s2" and "s2" in run.error["message"], run.error
    assert len(fake_llm.calls("step 1:")) == 1, "s1 was checkpointed once and restored after"
    assert 3 <= len(fake_llm.calls("step 2")) <= 4


@pytest.mark.timeout(400)
def test_healthy_runs_survive_a_storm_of_killed_workers(user, start_worker, fake_llm):
    """SIGKILL workers again and again (bounded: 10 kills, each followed by a fresh worker): runs
    that make progress between deaths are never given up, and every one succeeds."""
    fake_llm.script(latency=0.3)
    runs = [start_run(user, chain(4), {"task": f"storm-{i}"})[1] for i in range(10)]
    workers = [start_worker("s0"), start_worker("t0")]
    for kill in range(10):
        time.sleep(2)
        victim = workers.pop(0)
        victim.kill()
        workers.append(start_worker(f"k{kill}"))
    for run_id in runs:
        run = wait_for_run(run_id, 120)
        assert run.status == "succeeded", run.error
        _assert_clean_log(run_id)
