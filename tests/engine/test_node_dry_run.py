"""Every template (so every pattern kind) validates and runs end to end on the simulated
provider (a dry run), with an estimated cost per node and in total."""

from __future__ import annotations

import pytest

from graphs.engine.llm import ProviderRegistry
from graphs.engine.llm.simulated import SimulatedProvider
from graphs.engine.memory import HotTier, InMemoryColdStore, InMemoryWarmStore, TieredMemory
from graphs.engine.nodes import registry
from graphs.engine.ports import MemoryCheckpointStore, MemoryEventSink
from graphs.engine.runtime import Engine
from graphs.engine.validate import validate_graph
from graphs.pattern_templates import ETL_STEPS, TEMPLATES

INPUTS = {"task": "Analyse engagement data and build a dashboard", "steps": ETL_STEPS, "question": "hello",
          "session_id": "dry", "request": "last week", "topic": "remote work"}


def test_every_pattern_kind_is_registered_and_describes_itself():
    assert {"agent", "router", "consensus", "fallback", "planner", "for_each", "pev", "join", "budget"} <= set(registry.kinds())
    for kind in registry.describe():
        assert kind["config_schema"]["type"] == "object" and kind["description"]


def test_nine_templates_with_unique_slugs_and_readable_layouts():
    assert len(TEMPLATES) == 9 and len({t.slug for t in TEMPLATES}) == 9
    for t in TEMPLATES:
        assert validate_graph(t.spec) == [], t.slug
        positions = [(n["position"]["x"], n["position"]["y"]) for n in t.spec["nodes"]]
        assert len(set(positions)) == len(positions), f"{t.slug}: overlapping nodes"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.slug)
async def test_dry_run_of_every_template(template):
    events = MemoryEventSink()
    engine = Engine(template.spec, run_id="dry", checkpoints=MemoryCheckpointStore(), events=events,
                    providers=ProviderRegistry({"simulated": SimulatedProvider()}, "simulated"), force_provider="simulated",
                    memory=TieredMemory(HotTier(), InMemoryWarmStore(), InMemoryColdStore()), memory_owner=1)
    inputs = {k: v for k, v in INPUTS.items() if k in template.spec["inputs"]}
    result = await engine.run(inputs)
    assert result.status == "succeeded", (template.slug, result.error)
    assert result.cost_usd > 0
    per_node = sum(e["data"]["cost_usd"] for e in events.events if e["event"] == "post_node" and "/" not in (e["node_id"] or ""))
    assert per_node == pytest.approx(result.cost_usd, rel=1e-6, abs=1e-7)


# -- dry runs take real branches: enums honoured, voters seeded per run and voter ------------------
async def dry(doc, run_id, inputs):
    engine = Engine(doc, run_id=run_id, checkpoints=MemoryCheckpointStore(), events=MemoryEventSink(),
                    providers=ProviderRegistry({"simulated": SimulatedProvider()}, "simulated"), force_provider="simulated")
    return await engine.run(inputs)


async def test_dry_run_of_an_llm_router_takes_a_valid_branch_which_varies_by_run():
    from tests.engine.test_node_router import routed

    routes = {}
    for n in range(12):
        result = await dry(routed("llm", error_handling="fail"), f"run-{n}", {"task": "anything"})
        assert result.status == "succeeded", result.error  # never "none": a simulated model does not decline
        route = result.outputs["route"]
        other = {"code": "analyst", "data": "coder"}[route]
        assert result.nodes[other]["status"] == "skipped"
        routes[n] = route
    assert set(routes.values()) == {"code", "data"}  # a dry run exercises each branch
    again = await dry(routed("llm", error_handling="fail"), "run-3", {"task": "anything"})
    assert again.outputs["route"] == routes[3]  # deterministic per run


def voting(options, threshold=0.66, max_rounds=2):
    return {"inputs": {"task": {"type": "string"}},
            "outputs": {k: {"type": "any"} for k in ("final_decision", "consensus_achieved", "votes", "rounds")},
            "nodes": [{"id": "vote", "kind": "consensus", "config": {
                "options": options, "consensus_threshold": threshold, "max_rounds": max_rounds,
                "voters": [{"name": f"v{i}"} for i in range(4)]}}],
            "edges": [{"source": "@inputs", "source_port": "task", "target": "vote", "target_port": "task"}]
            + [{"source": "vote", "source_port": k, "target": "@outputs", "target_port": k}
               for k in ("final_decision", "consensus_achieved", "votes", "rounds")]}


async def test_dry_run_voters_choose_valid_options_disagree_and_repeat_per_run():
    options = ["Approve", "Reject", "Defer"]
    outcomes = []
    for n in range(8):
        result = await dry(voting(options, threshold=1.0), f"run-{n}", {"task": "Ship it?"})
        assert result.status == "succeeded", result.error
        votes = result.outputs["votes"]
        assert votes and all(v["decision"] in options for v in votes)
        by_voter = {}
        for v in votes:  # a voter keeps its seeded choice from round to round
            assert by_voter.setdefault(v["voter"], v["decision"]) == v["decision"]
        outcomes.append((result.outputs["consensus_achieved"], len(set(by_voter.values())), result.outputs["rounds"]))
    assert any(distinct > 1 for _a, distinct, _r in outcomes)  # voters disagree in dry run...
    assert {a for a, _d, _r in outcomes} <= {True, False}
    assert any(not achieved and rounds == 2 for achieved, _d, rounds in outcomes)  # ...so no-consensus is exercised
    first = await dry(voting(options, threshold=1.0), "run-0", {"task": "Ship it?"})
    again = await dry(voting(options, threshold=1.0), "run-0", {"task": "Ship it?"})
    assert first.outputs["votes"] == again.outputs["votes"]  # deterministic per run and voter


async def test_dry_run_consensus_without_options_agrees_on_free_text():
    result = await dry(voting([]), "run-1", {"task": "Ship it?"})
    assert result.status == "succeeded" and result.outputs["consensus_achieved"] is True
    assert result.outputs["rounds"] == 1


async def test_dry_run_plan_has_distinct_steps_that_depend_on_nothing_unknown():
    doc = {"inputs": {"task": {"type": "string"}}, "outputs": {"steps": {"type": "list"}},
           "nodes": [{"id": "plan", "kind": "planner", "config": {"validation_mode": "strict"}}],
           "edges": [{"source": "@inputs", "source_port": "task", "target": "plan", "target_port": "task"},
                     {"source": "plan", "source_port": "steps", "target": "@outputs", "target_port": "steps"}]}
    result = await dry(doc, "run-1", {"task": "t"})
    assert result.status == "succeeded", result.error
    steps = result.outputs["steps"]
    assert len(steps) == 2 and len({s["id"] for s in steps}) == 2 and all(s["depends_on"] == [] for s in steps)
