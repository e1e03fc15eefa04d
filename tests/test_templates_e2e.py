"""The eight pattern templates: loadable by API, page and command; each runs through a real
Celery worker against the scripted OpenAI-compatible server and behaves as the document says."""

from __future__ import annotations

import copy
import io
import time

import pytest
from django.core.management import call_command

from graphs.models import Graph, MemoryRecord, NodeState, RunEvent
from graphs.pattern_templates import ETL_STEPS, TEMPLATES, template_get
from tests.helpers import wait_for_run, wait_until


def instantiate(client, slug):
    response = client.post(f"/api/templates/{slug}/instantiate/", {}, format="json")
    assert response.status_code == 201, response.data
    return response.data["id"]


def run_graph(client, graph_id, inputs, **extra):
    response = client.post(f"/api/graphs/{graph_id}/runs/", {"inputs": inputs, **extra}, format="json")
    assert response.status_code == 202, response.data
    return response.data["id"]


def run_template(client, slug, inputs, spec_change=None, **extra):
    if spec_change is None:
        return run_graph(client, instantiate(client, slug), inputs, **extra)
    spec = copy.deepcopy(template_get(slug).spec)
    spec_change(spec)
    created = client.post("/api/graphs/", {"name": slug, "spec": spec}, format="json")
    assert created.status_code == 201, created.data
    return run_graph(client, created.data["id"], inputs, **extra)


def events(run_id, name=None):
    qs = RunEvent.objects.filter(run_id=run_id).order_by("seq")
    return [e for e in qs if name is None or e.event == name]


# -- loading templates -------------------------------------------------------------------------
@pytest.mark.django_db
def test_api_lists_the_eight_templates_and_instantiates_one(api_client, user):
    listed = api_client.get("/api/templates/").data
    assert [t["slug"] for t in listed] == [t.slug for t in TEMPLATES]
    assert all(t["description"] and t["spec"]["nodes"] for t in listed)
    response = api_client.post("/api/templates/consensus/instantiate/", {"name": "My vote"}, format="json")
    assert response.status_code == 201 and response.data["version"] == 1
    graph = Graph.objects.get(pk=response.data["id"])
    assert graph.owner == user and graph.name == "My vote"
    assert api_client.post("/api/templates/nope/instantiate/", {}, format="json").status_code == 404


@pytest.mark.django_db
def test_new_from_template_on_the_graph_list_page(client, user):
    client.force_login(user)
    page = client.get("/").content.decode()
    assert page.count("New from template") >= 8 and "/templates/parallel-pipeline/new/" in page
    assert "<script" not in page.split('id="templates"')[1] and "style=" not in page.split('id="templates"')[1]
    response = client.post("/templates/parallel-pipeline/new/")
    graph = Graph.objects.get(owner=user, name="Parallel execution")
    assert response.status_code == 302 and response["Location"].endswith(f"/graphs/{graph.pk}/")
    assert client.get("/templates/parallel-pipeline/new/").status_code == 405


@pytest.mark.django_db
def test_memory_page_lists_sessions_with_their_tier(client, user):
    from django.utils import timezone

    MemoryRecord.objects.create(workspace=user.personal_workspace, session_id="customer_9", turns=[{"user": "a", "assistant": "b"}],
                                access_count=4, tier="warm", last_access_at=timezone.now())
    client.force_login(user)
    page = client.get("/memory/").content.decode()
    assert "customer_9" in page and "warm" in page
    assert "just now" in page and "+00:00" not in page, "the last access reads as a time, not an ISO string"


@pytest.mark.django_db
def test_management_command_loads_templates_for_a_user(user):
    out = io.StringIO()
    call_command("kaizen_templates", "--user", user.username, stdout=out)
    assert Graph.objects.filter(owner=user).count() == len(TEMPLATES) == 9
    call_command("kaizen_templates", "--user", user.username, "--slug", "consensus", stdout=out)
    assert Graph.objects.filter(owner=user).count() == 9 and "exists" in out.getvalue()


# -- end to end, one per pattern -------------------------------------------------------------
def test_hierarchical_planning_routes_each_step_to_its_specialist(api_client, celery_worker, fake_llm):
    fake_llm.script(match="planning coordinator", reply={"steps": [
        {"id": "s1", "description": "analyse user engagement data for insights"},
        {"id": "s2", "description": "generate dashboard code with unit tests"},
        {"id": "s3", "description": "report the engagement insights", "depends_on": ["s1"]}]})
    run_id = run_template(api_client, "hierarchical-planning", {"task": "Analyse engagement, report, build a dashboard"})
    run = wait_for_run(run_id, 30)
    assert run.status == "succeeded", run.error
    routes = {r["id"]: r["outputs"]["route"] for r in run.outputs["results"]}
    assert routes == {"s1": "data", "s2": "code", "s3": "data"}
    skipped = set(NodeState.objects.filter(run_id=run_id, status="skipped").values_list("node_id", flat=True))
    assert {"steps/0/code_expert", "steps/1/data_expert", "steps/2/code_expert"} <= skipped
    decisions = [e.data for e in events(run_id, "decision") if e.node_id.endswith("/router")]
    assert len(decisions) == 3 and all(d["scores"] and d["strategy"] == "semantic" for d in decisions)


def test_consensus_two_of_three_agree(api_client, celery_worker, fake_llm):
    fake_llm.script(match="conservative", reply={"decision": "No", "reasoning": "risky", "confidence": 0.7})
    fake_llm.script(match="innovative", reply={"decision": "Yes", "reasoning": "scales", "confidence": 0.9})
    fake_llm.script(match="balanced", reply={"decision": "yes", "reasoning": "team of 15 can", "confidence": 0.8})
    run_id = run_template(api_client, "consensus", {"task": "Should we migrate to microservices?",
                                                    "context": {"current_system": "monolith", "team_size": 15}})
    run = wait_for_run(run_id, 30)
    assert run.status == "succeeded", run.error
    assert run.outputs["consensus_achieved"] is True and run.outputs["final_decision"].lower() == "yes"
    assert run.outputs["confidence_score"] == pytest.approx(0.6667, abs=0.001)
    assert len(run.outputs["votes"]) == 3 and len(fake_llm.calls()) == 3


@pytest.mark.slow
def test_checkpoint_pipeline_killed_mid_way_resumes_without_repeating_a_step(api_client, start_worker, fake_llm):
    fake_llm.script(latency=0.25)
    worker_a = start_worker("a")
    run_id = run_template(api_client, "checkpoint-pipeline", {"steps": ETL_STEPS})
    wait_until(lambda: fake_llm.calls(f"Task: {ETL_STEPS[2]}"), 30, message="step 3 in flight")
    worker_a.kill()
    start_worker("b")
    run = wait_for_run(run_id, 60)
    assert run.status == "succeeded", run.error
    assert run.claims == 2 and run.outputs["completed"] == 5
    for step in ETL_STEPS:
        answered = fake_llm.calls(f"Task: {step}", completed=True)
        assert len(answered) == 3, f"{step}: {len(answered)} answers (plan, execute, verify once)"
    for step in ETL_STEPS[:2]:
        assert len(fake_llm.calls(f"Task: {step}")) == 3, f"{step} was repeated"
    assert events(run_id, "run_resumed")


def test_budget_switches_model_when_the_first_budget_is_spent(api_client, celery_worker, fake_llm):
    fake_llm.script(model="gpt-4", prompt_tokens=100_000, completion_tokens=50_000)  # $6 per call > $5
    run_id = run_template(api_client, "budget-aware", {"task": "process the batch"})
    run = wait_for_run(run_id, 30)
    assert run.status == "succeeded", run.error
    assert run.outputs["model_switched"] is True
    assert [c["model"] for c in fake_llm.calls()] == ["gpt-4", "gpt-3.5-turbo", "gpt-3.5-turbo"]
    budget = [e.data for e in events(run_id, "budget")]
    assert any(d.get("switch_model") == "gpt-3.5-turbo" for d in budget)
    assert float(run.cost_usd) > 6.0


def test_budget_interrupts_with_a_run_budget_and_resumes_with_a_higher_one(api_client, celery_worker, fake_llm):
    fake_llm.script(model="gpt-4", prompt_tokens=1000, completion_tokens=1000)  # $0.09 per call
    run_id = run_template(api_client, "budget-aware", {"task": "t"}, budget_usd="0.1")
    run = wait_for_run(run_id, 30)
    assert run.status == "interrupted" and run.error["type"] == "budget"
    assert api_client.post(f"/api/runs/{run_id}/resume/", {"budget_usd": "5"}, format="json").status_code == 202
    run = wait_for_run(run_id, 30, statuses={"succeeded", "failed"})
    assert run.status == "succeeded", run.error
    assert len(fake_llm.calls()) == 3  # the two answered stages were not asked again


def test_memory_promotes_a_session_and_the_api_shows_its_tier(api_client, user, celery_worker, fake_llm):
    fake_llm.script(match="I am Ada", reply={"answer": "Hello Ada"})
    graph_id = instantiate(api_client, "context-memory")
    for question in ("I am Ada", "What is my name?", "Still there?"):
        run = wait_for_run(run_graph(api_client, graph_id, {"question": question, "session_id": "customer_123"}), 30)
        assert run.status == "succeeded", run.error
    third = fake_llm.calls("Still there?")[0]
    assert "Hello Ada" in third["text"] and "What is my name?" in third["text"]
    record = MemoryRecord.objects.get(workspace=user.personal_workspace, session_id="customer_123")
    assert record.tier == "warm" and record.access_count == 3 and len(record.turns) == 3
    sessions = api_client.get("/api/memory/").data
    assert [(s["session_id"], s["tier"], s["access_count"]) for s in sessions] == [("customer_123", "warm", 3)]
    loads = [e.data for e in RunEvent.objects.filter(event="memory") if e.data["action"] == "load"]
    assert [x["served_from"] for x in loads] == ["new", "cold", "warm"]


def test_fallback_answers_from_level_three_after_500_and_timeout(api_client, celery_worker, fake_llm):
    fake_llm.script(model="gpt-4", status=500)
    fake_llm.script(model="gpt-3.5-turbo", hang=True)
    fake_llm.script(model="llama3", reply={"answer": "basic answer"})

    def short_timeouts(spec):
        spec["nodes"][0]["config"]["levels"][1]["level_timeout_s"] = 1.0

    started = time.monotonic()
    run = wait_for_run(run_template(api_client, "multi-level-fallback", {"task": "t"}, short_timeouts), 30)
    assert run.status == "succeeded", run.error
    assert run.outputs["quality"] == "basic" and run.outputs["answer"] == "basic answer"
    assert time.monotonic() - started < 10
    assert [e.data["level"] for e in events(run.pk, "fallback")] == [1, 2]


def test_fallback_all_levels_failing_gives_a_structured_error(api_client, celery_worker, fake_llm):
    fake_llm.script(status=500)
    run = wait_for_run(run_template(api_client, "multi-level-fallback", {"task": "t"}), 30)
    assert run.status == "succeeded", run.error
    assert run.outputs["status"] == "error" and run.outputs["suggestions"] and "answer" not in run.outputs


def test_parallel_five_one_second_branches_run_at_once(api_client, celery_worker, fake_llm):
    fake_llm.script(match="Fetch from", latency=1.0)
    run = wait_for_run(run_template(api_client, "parallel-pipeline", {"request": "last week"}), 30)
    assert run.status == "succeeded", run.error
    fetches = [e for e in events(run.pk) if e.node_id.startswith("fetch_") and e.event in ("pre_node", "post_node")]
    # concurrency, not wall time (no absolute time on a loaded machine): every branch had started
    # before any finished, and together they took well under five sequential 1 s calls
    last_start = max(e.seq for e in fetches if e.event == "pre_node")
    first_end = min(e.seq for e in fetches if e.event == "post_node")
    assert len(fetches) == 10 and last_start < first_end, [(e.event, e.node_id) for e in fetches]
    branches = (max(e.created_at for e in fetches) - min(e.created_at for e in fetches)).total_seconds()
    assert branches < 4.5, f"the five 1 s fetch branches took {branches:.2f}s: they ran one after another"
    order = [(e.event, e.node_id) for e in events(run.pk)]
    validator_start = order.index(("pre_node", "validator"))
    assert all(order.index(("post_node", f"transform_{s}")) < validator_start
               for s in ("api1", "api2", "api3", "database", "s3_bucket"))


def test_observable_system_reports_performance_errors_and_audit_events(api_client, celery_worker, fake_llm):
    fake_llm.script(model="gpt-4o", status=500)
    run = wait_for_run(run_template(api_client, "observable-system", {"task": "quarterly churn"}), 30)
    assert run.status == "succeeded", run.error
    names = {e.event for e in events(run.pk)}
    assert {"pre_agent_loop", "post_agent_loop", "pre_llm_call", "post_llm_call", "on_error", "fallback",
            "post_checkpoint_save"} <= names
    calls = [e.data for e in events(run.pk, "post_llm_call")]
    assert all("cost_usd" in c and "latency_ms" in c for c in calls)


def test_dry_run_of_a_template_estimates_cost_per_node(api_client, celery_worker, fake_llm):
    run = wait_for_run(run_template(api_client, "hierarchical-planning", {"task": "t"}, dry_run=True), 30)
    assert run.status == "succeeded", run.error
    assert fake_llm.calls() == []  # nothing reached the real endpoint
    nodes = api_client.get(f"/api/runs/{run.pk}/").data["nodes"]
    assert nodes["planner"]["cost_usd"] > 0 and nodes["steps"]["cost_usd"] > 0
    assert float(run.cost_usd) == pytest.approx(nodes["planner"]["cost_usd"] + nodes["steps"]["cost_usd"], rel=1e-4)
