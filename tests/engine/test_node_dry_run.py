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
          "session_id": "dry", "request": "last week"}


def test_every_pattern_kind_is_registered_and_describes_itself():
    assert {"agent", "router", "consensus", "fallback", "planner", "for_each", "pev", "join", "budget"} <= set(registry.kinds())
    for kind in registry.describe():
        assert kind["config_schema"]["type"] == "object" and kind["description"]


def test_eight_templates_with_unique_slugs_and_readable_layouts():
    assert len(TEMPLATES) == 8 and len({t.slug for t in TEMPLATES}) == 8
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
