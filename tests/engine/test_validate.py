"""Every validation error names the node/edge/field at fault."""

from __future__ import annotations

import copy

import pytest

from graphs.demo import DEMO_GRAPHS
from graphs.engine.nodes import registry
from graphs.engine.validate import validate_graph
from tests.helpers import agent, chain, edge


def paths(doc):
    return {(i.path, i.message) for i in validate_graph(doc)}


def messages(doc):
    return " | ".join(f"{i.path}: {i.message}" for i in validate_graph(doc))


def test_demo_graphs_are_valid():
    for name, _desc, spec in DEMO_GRAPHS:
        assert validate_graph(spec) == [], name


def test_unknown_kind():
    doc = chain(1)
    doc["nodes"][0]["kind"] = "teleporter"
    issues = validate_graph(doc)
    assert issues[0].path == "nodes[0].kind" and issues[0].node == "s1" and "teleporter" in issues[0].message


def test_dangling_edge():
    doc = chain(1)
    doc["edges"].append(edge("s1", "result", "ghost", "task"))
    assert any(i.path == "edges[2].target" and "ghost" in i.message for i in validate_graph(doc))


def test_unknown_ports():
    doc = chain(1)
    doc["edges"][0]["target_port"] = "nope"
    text = messages(doc)
    assert "edges[0].target_port: s1 has no input port 'nope'" in text


def test_cycle_is_rejected():
    doc = chain(2)
    doc["nodes"][0]["config"]["signature"]["inputs"].append({"name": "loop", "required": False})
    doc["edges"].append(edge("s2", "result", "s1", "loop"))
    assert "cycle: s1 -> s2 -> s1" in messages(doc)


def test_missing_required_input():
    doc = chain(1)
    doc["edges"] = doc["edges"][1:]
    assert "nodes[0].inputs.task: required input 'task' of s1 is not connected" in messages(doc)


def test_type_mismatch():
    doc = chain(1)
    doc["inputs"]["task"]["type"] = "number"
    assert "type mismatch: @inputs.task is number but s1.task expects string" in messages(doc)


def test_port_fed_twice():
    doc = chain(1)
    doc["inputs"]["other"] = {"type": "string"}
    doc["edges"].append(edge("@inputs", "other", "s1", "task"))
    assert "s1.task is already fed by edges[0]" in messages(doc)


def test_duplicate_ids():
    doc = chain(2)
    doc["nodes"][1]["id"] = "s1"
    assert "nodes[1].id: duplicate node id 's1'" in messages(doc)


def test_bad_config_field_names_the_field():
    doc = chain(1, temperature=9)
    issue = validate_graph(doc)[0]
    assert issue.path == "nodes[0].config.temperature" and issue.node == "s1"


def test_unknown_fields_are_rejected():
    doc = chain(1)
    doc["nodes"][0]["colour"] = "red"
    assert "nodes[0].colour" in messages(doc)


def test_oversized_documents():
    doc = chain(1)
    doc["description"] = "x" * (5 * 1024 * 1024)
    assert "limit" in messages(doc)
    many = {"nodes": [agent(f"n{i}", [], ["o"]) for i in range(2001)], "edges": []}
    assert "nodes" in messages(many)


def test_graph_output_must_be_connected():
    doc = chain(1)
    doc["edges"] = doc["edges"][:-1]
    assert "outputs.result: graph output 'result' is not connected" in messages(doc)


def test_error_edge_rules():
    doc = chain(1)
    doc["nodes"].append(agent("fb", ["other"], ["result"]))
    doc["edges"].append(edge("s1", "", "fb", "", "error"))
    assert "fallback fb needs input 'other', which s1 does not receive" in messages(doc)


@pytest.mark.parametrize("bad", [None, [], "x", 3])
def test_not_an_object(bad):
    assert validate_graph(bad)[0].message == "the graph must be a JSON object"


def test_every_registered_kind_describes_itself():
    for description in registry.describe():
        assert description["config_schema"]["type"] == "object"
        assert description["title"] and description["description"]


def test_registry_refuses_duplicates():
    kind = type(registry.get("agent"))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(kind)


def test_validation_does_not_mutate_input():
    doc = chain(2)
    before = copy.deepcopy(doc)
    validate_graph(doc)
    assert doc == before


def test_cycle_names_its_members_along_the_edges_and_deep_chains_pass():
    from graphs.engine.schema import GraphSpec
    from graphs.engine.validate import find_cycle

    def spec(edges):
        return GraphSpec.model_validate({"nodes": [], "edges": [
            {"source": a, "source_port": "o", "target": b, "target_port": "i"} for a, b in edges]})

    # a three-node loop reached from a tail, written out of order: named from the source of its first-written edge, edge by edge
    assert find_cycle(spec([("t", "b"), ("c", "a"), ("a", "b"), ("b", "c")])) == ["c", "a", "b", "c"]
    assert find_cycle(spec([("x", "x")])) == ["x", "x"]
    deep = [(f"n{i}", f"n{i + 1}") for i in range(3000)]
    assert find_cycle(spec(deep)) is None  # no recursion limit
    assert find_cycle(spec([*deep, ("n3000", "n2998")])) == ["n2998", "n2999", "n3000", "n2998"]


def test_run_inputs_have_one_rule_for_the_api_and_the_engine():
    """graphs/services.py (before a run is queued) and the engine (when it starts) both ask
    ``input_issues``; the engine tolerates inputs the graph does not declare."""
    import asyncio

    from graphs.engine.llm import ProviderRegistry
    from graphs.engine.llm.simulated import SimulatedProvider
    from graphs.engine.ports import MemoryCheckpointStore, MemoryEventSink
    from graphs.engine.runtime import Engine
    from graphs.engine.schema import FieldSpec
    from graphs.engine.validate import input_issues
    from tests.helpers import chain

    declared = {"topic": FieldSpec(type="string"), "n": FieldSpec(type="integer", required=False)}
    assert input_issues(declared, {"topic": "x"}) == []
    assert [(i.path, i.message) for i in input_issues(declared, {"n": "3", "extra": 1})] == [
        ("inputs.extra", "unknown input"), ("inputs.topic", "this input is required"), ("inputs.n", "must be integer")]
    assert input_issues(declared, {"topic": "x", "extra": 1}, extra_ok=True) == []
    assert [i.path for i in input_issues(declared, [])] == ["inputs"]

    def run(inputs):
        engine = Engine(chain(1), run_id="r", providers=ProviderRegistry({"simulated": SimulatedProvider()}, "simulated"),
                        checkpoints=MemoryCheckpointStore(), events=MemoryEventSink())
        return asyncio.run(engine.run(inputs))

    assert run({"task": "t", "extra": 1}).status == "succeeded"
    failed = run({"task": 3})
    assert failed.status == "failed" and failed.error["path"] == "inputs.task"
    assert failed.error["message"] == "run inputs.task: must be string"


def test_a_document_is_compiled_once_per_process_and_shared_read_only():
    """Every run of a version (and every item of a for-each body) shares one compiled form: the
    same JSON gives the same objects; another document, or an invalid one, is compiled anew."""
    import copy

    from graphs.engine.validate import GraphInvalid, compile_graph

    doc = chain(3)
    first = compile_graph(doc)
    assert compile_graph(copy.deepcopy(doc)) is first  # (by content, not identity)
    other = chain(4)
    assert compile_graph(other) is not first and len(compile_graph(other)[1]) == 4
    bad = copy.deepcopy(doc)
    bad["nodes"][0]["kind"] = "no_such_kind"
    for _ in range(2):  # (an invalid document is never cached)
        with pytest.raises(GraphInvalid):
            compile_graph(bad)


async def test_runs_of_one_compiled_graph_do_not_share_state(harness):
    """Two runs of the same document at once (one compiled form): each its own states and events."""
    import asyncio

    from graphs.engine.ports import MemoryCheckpointStore, MemoryEventSink

    doc = {"inputs": {"task": {"type": "string"}}, "outputs": {"result": {"type": "any"}},
           "nodes": [{"id": "j", "kind": "join", "config": {"inputs": [{"name": "a", "type": "any", "required": False}]}}],
           "edges": [edge("@inputs", "task", "j", "a"), edge("j", "first", "@outputs", "result")]}
    from graphs.engine.runtime import Engine

    engines = [Engine(doc, run_id=f"r{i}", providers=harness.providers(), checkpoints=MemoryCheckpointStore(),
                      events=MemoryEventSink()) for i in range(2)]
    assert engines[0].nodes is engines[1].nodes
    results = await asyncio.gather(*(e.run({"task": f"t{i}"}) for i, e in enumerate(engines)))
    assert [r.outputs for r in results] == [{"result": "t0"}, {"result": "t1"}]
    assert [e.states["j"].outputs["first"] for e in engines] == ["t0", "t1"]
