"""Re-run from a node and fork with edits, through a real worker: only the chosen node and those
after it call the model; the reused results are the source run's, byte for byte."""

from __future__ import annotations

from graphs.models import NodeState, Run, RunEvent
from tests.helpers import chain, wait_for_run
from tests.test_worker_e2e import assert_contiguous_events, start_run


def test_rerun_from_a_middle_node_calls_the_model_only_from_there(user, celery_worker, fake_llm):
    client, run_id = start_run(user, chain(4), {"task": "etl"})
    assert wait_for_run(run_id, 60).status == "succeeded"
    before = {ns.node_id: ns.data for ns in NodeState.objects.filter(run_id=run_id)}
    fake_llm.reset()
    response = client.post(f"/api/runs/{run_id}/rerun/", {"node": "s3"}, format="json")
    assert response.status_code == 202, response.data
    new_id = response.data["id"]
    new = wait_for_run(new_id, 60)
    assert new.status == "succeeded", new.error
    asked = [c["text"] for c in fake_llm.calls()]
    assert len(asked) == 2 and "step 3:" in asked[0] and "step 4:" in asked[1], asked
    after = {ns.node_id: ns.data for ns in NodeState.objects.filter(run_id=new_id)}
    for node in ("s1", "s2"):
        assert after[node]["outputs"] == before[node]["outputs"] and after[node]["llm_calls"] == before[node]["llm_calls"]
        assert after[node]["origin"] == {"run": run_id, "node": node}
    assert new.forked_from_id == run_id and new.forked_from_node == "s3" and new.fork_edits is None
    events = list(RunEvent.objects.filter(run_id=new_id).values_list("event", "node_id"))
    assert events[0][0] == "run_started" and ("node_restored", "s2") in events and ("pre_node", "s1") not in events
    assert_contiguous_events(new_id)
    body = client.get(f"/api/runs/{new_id}/").data
    assert body["forked_from"] == run_id and body["forked_from_node"] == "s3"


def test_fork_with_edited_inputs_and_outputs(user, celery_worker, fake_llm):
    client, run_id = start_run(user, chain(3), {"task": "etl"})
    assert wait_for_run(run_id, 60).status == "succeeded"
    fake_llm.reset()
    bad = client.post(f"/api/runs/{run_id}/fork/", {"node": "s2", "outputs": {"s1": {"nope": 1}}}, format="json")
    assert bad.status_code == 400 and bad.data["errors"][0]["path"] == "outputs.s1.nope", bad.data
    downstream = client.post(f"/api/runs/{run_id}/fork/", {"node": "s2", "outputs": {"s3": {"result": "x"}}}, format="json")
    assert downstream.status_code == 400 and downstream.data["errors"][0]["path"] == "outputs.s3"
    response = client.post(f"/api/runs/{run_id}/fork/", {"node": "s2", "inputs": {"task": "new task"},
                                                         "outputs": {"s1": {"result": "edited upstream"}}}, format="json")
    assert response.status_code == 202, response.data
    new = wait_for_run(response.data["id"], 60)
    assert new.status == "succeeded", new.error
    assert new.inputs == {"task": "new task"}
    assert new.fork_edits == {"inputs": {"task": "new task"}, "outputs": {"s1": {"result": "edited upstream"}}}
    asked = [c["text"] for c in fake_llm.calls()]
    assert len(asked) == 2 and "step 2: edited upstream" in asked[0], asked


def test_fork_onto_a_newer_version_needs_an_unchanged_upstream(user, celery_worker, fake_llm):
    client, run_id = start_run(user, chain(3), {"task": "etl"})
    assert wait_for_run(run_id, 60).status == "succeeded"
    graph_id = Run.objects.get(pk=run_id).graph_id
    changed = chain(3)
    changed["nodes"][2]["config"]["instructions"] = "step 3 (v2): {{task}}"
    assert client.put(f"/api/graphs/{graph_id}/", {"spec": changed}, format="json").status_code == 200
    fake_llm.reset()
    ok = client.post(f"/api/runs/{run_id}/fork/", {"node": "s3", "version": 2}, format="json")
    assert ok.status_code == 202, ok.data
    new = wait_for_run(ok.data["id"], 60)
    assert new.status == "succeeded" and new.version.number == 2
    asked = [c["text"] for c in fake_llm.calls()]
    assert len(asked) == 1 and "step 3 (v2)" in asked[0], asked
    earlier = client.post(f"/api/runs/{run_id}/fork/", {"node": "s2", "version": 2}, format="json")
    assert earlier.status_code == 202, "s3 is after s2: its change is allowed"
    wait_for_run(earlier.data["id"], 60)
    upstream = chain(3)
    upstream["nodes"][0]["config"]["instructions"] = "step 1 (v3): {{task}}"
    client.put(f"/api/graphs/{graph_id}/", {"spec": upstream}, format="json")
    refused = client.post(f"/api/runs/{run_id}/fork/", {"node": "s3", "version": 3}, format="json")
    assert refused.status_code == 400 and refused.data["errors"][0]["path"] == "version", refused.data
    assert "s1 changed" in refused.data["errors"][0]["message"]


def test_a_running_run_cannot_be_forked(user, fake_llm, transactional_db):
    client, run_id = start_run(user, chain(2), {"task": "t"})  # no worker: it stays queued
    response = client.post(f"/api/runs/{run_id}/rerun/", {"node": "s2"}, format="json")
    assert response.status_code == 409
