"""approval / input: a human node waits (the run parks), branches not behind it run on, and a
resumed run takes the answer from its checkpoints and the answers given."""

from __future__ import annotations

from graphs.engine.nodes import registry
from tests.helpers import agent, edge


def approval_graph(**approval):
    """@inputs.task -> draft -> approve -> publish (approved) | revise (rejected); side runs beside it."""
    nodes = [agent("draft", ["task"], ["text"], x=300, instructions="draft: {{task}}"),
             {"id": "approve", "kind": "approval", "position": {"x": 600, "y": 0},
              "config": {"inputs": [{"name": "subject", "type": "string"}], **approval}},
             agent("publish", ["text"], ["result"], x=950, y=-140, instructions="publish: {{text}}"),
             agent("revise", ["text"], ["result"], x=950, y=140, instructions="revise: {{text}}"),
             agent("side", ["task"], ["note"], x=600, y=300, instructions="side: {{task}}")]
    edges = [edge("@inputs", "task", "draft", "task"), edge("draft", "text", "approve", "subject"),
             edge("approve", "approved", "publish", "text"), edge("approve", "rejected", "revise", "text"),
             edge("@inputs", "task", "side", "task"),
             edge("publish", "result", "@outputs", "published"), edge("revise", "result", "@outputs", "revised"),
             edge("side", "note", "@outputs", "note")]
    return {"inputs": {"task": {"type": "string"}},
            "outputs": {"published": {"type": "string", "required": False}, "revised": {"type": "string", "required": False},
                        "note": {"type": "string"}},
            "nodes": nodes, "edges": edges}


async def test_approval_parks_the_run_while_a_parallel_branch_finishes(harness):
    harness.fake.script(match="side:", latency=0.5)
    result = await harness.run(approval_graph(), {"task": "t"})
    assert result.status == "waiting"
    assert result.nodes["approve"]["status"] == "waiting"
    assert result.nodes["side"]["status"] == "succeeded", "a branch not behind the human node ran to its end"
    assert result.nodes["publish"]["status"] == "pending" and result.nodes["revise"]["status"] == "pending"
    names = harness.events.names()
    assert names[-1] == "run_waiting" and "run_finished" not in names
    waiting = [e for e in harness.events.events if e["event"] == "node_waiting"][0]["data"]
    assert waiting["kind"] == "approval" and waiting["inputs"] == {"subject": "ok"} and waiting["form"]["required"] == ["action"]
    assert harness.checkpoints.saved["r1"]["approve"]["scratch"]["human"]["since"] > 0


async def test_an_answer_resumes_from_checkpoints_and_takes_its_branch(harness):
    await harness.run(approval_graph(), {"task": "t"})
    calls_before = len(harness.fake.calls())
    answer = {"approve": {"answer": {"action": "reject", "comment": "too long"}, "by": "alice", "at": 1.0, "source": "user"}}
    result = await harness.run(approval_graph(), {"task": "t"}, answers=answer)
    assert result.status == "succeeded", result.error
    assert result.nodes["revise"]["status"] == "succeeded" and result.nodes["publish"]["status"] == "skipped"
    assert result.nodes["approve"]["outputs"] == {"rejected": "ok", "comment": "too long", "decision": "rejected"}
    later = harness.fake.calls()[calls_before:]
    assert len(later) == 1 and "revise:" in later[0]["text"], "draft and side were not asked again"
    answered = [e for e in harness.events.events if e["event"] == "human_answered"]
    assert answered[-1]["data"]["by"] == "alice"
    assert result.nodes["approve"]["attempts"] == 1, "taking up its answer is not a second attempt (the run page said 2)"


async def test_a_timeout_answer_fail_fails_the_node(harness):
    await harness.run(approval_graph(answer_timeout_s=60, on_timeout="fail"), {"task": "t"})
    waiting = harness.checkpoints.saved["r1"]["approve"]["scratch"]["human"]
    assert waiting["due_at"] == waiting["since"] + 60 and waiting["on_timeout"] == "fail"
    kind = registry.get("approval")
    config = kind.parse({"on_timeout": "fail"})
    answers = {"approve": {"answer": kind.timeout_answer(config), "source": "timeout"}}
    result = await harness.run(approval_graph(on_timeout="fail"), {"task": "t"}, answers=answers)
    assert result.status == "failed" and result.error["node"] == "approve" and result.error["type"] == "human_timeout"


def test_input_node_ports_and_answer_validation():
    kind = registry.get("input")
    schema = {"type": "object", "required": ["name", "age"], "properties": {
        "name": {"type": "string", "minLength": 1}, "age": {"type": "integer", "minimum": 0}}}
    config = kind.parse({"schema": schema})
    assert {k: v.type for k, v in kind.outputs(config).items()} == {"answer": "object", "name": "string", "age": "integer"}
    assert kind.answer_issues(config, {"name": "Ada", "age": 36}) == []
    assert kind.answer_issues(config, {"name": "Ada", "age": -1}) == [("answer.age", "-1 is less than the minimum of 0")]
    assert kind.answer_issues(config, {"name": "Ada"})[0][0] == "answer"
    assert kind.outputs_for(config, {}, {"name": "Ada", "age": 36}, "user") == {"answer": {"name": "Ada", "age": 36}, "name": "Ada", "age": 36}


def test_input_node_refuses_a_schema_that_is_not_a_form():
    from graphs.engine.validate import validate_graph

    doc = {"nodes": [{"id": "ask", "kind": "input", "config": {"schema": {"type": "string"}}}], "edges": []}
    issues = validate_graph(doc)
    assert issues and issues[0].path.startswith("nodes[0].config.schema"), issues


def _for_each_with(body_node: dict) -> dict:
    """@inputs.items -> each (for_each whose body holds ``body_node``) -> @outputs."""
    body = {"inputs": {"item": {"type": "any"}}, "outputs": {"answer": {"type": "any", "required": False}},
            "nodes": [body_node], "edges": []}
    return {"inputs": {"items": {"type": "list"}}, "outputs": {"results": {"type": "list"}},
            "nodes": [{"id": "each", "kind": "for_each", "position": {"x": 300, "y": 0}, "config": {"body": body}}],
            "edges": [edge("@inputs", "items", "each", "items"), edge("each", "results", "@outputs", "results")]}


def test_a_human_node_in_a_subgraph_is_refused_at_validation_with_its_path():
    from graphs.engine.validate import validate_graph

    approval = {"id": "ask", "kind": "approval", "position": {"x": 0, "y": 0}, "config": {}}
    issues = validate_graph(_for_each_with(approval))
    human = [i for i in issues if "cannot wait for a person" in i.message]
    assert [(i.path, i.node) for i in human] == [("nodes[0].config.body.nodes[0]", "each")], issues
    assert "'ask'" in human[0].message and "top-level" in human[0].message
    # deeper: a budget guard inside the for-each body, the input node inside the guard
    guard = {"id": "guard", "kind": "budget", "position": {"x": 0, "y": 0},
             "config": {"body": {"inputs": {}, "outputs": {}, "edges": [],
                                 "nodes": [{"id": "form", "kind": "input", "position": {"x": 0, "y": 0}, "config": {}}]}}}
    issues = validate_graph(_for_each_with(guard))
    assert any("form" in i.message and "cannot wait for a person" in i.message and i.node == "each" for i in issues), issues
    # top level stays fine
    assert not [i for i in validate_graph(approval_graph()) if "cannot wait" in i.message]


def test_assignees_are_a_config_field_with_roles_checked():
    from graphs.engine.validate import validate_graph

    kind = registry.get("approval")
    schema = kind.describe()["config_schema"] if hasattr(kind, "describe") else kind.Config.model_json_schema()
    assert "assignees" in str(schema)
    graph = approval_graph(assignees=["alice", " bob@example.com ", "role:admin"])
    assert not validate_graph(graph)
    assert kind.parse(graph["nodes"][1]["config"]).assignees == ["alice", "bob@example.com", "role:admin"]
    issues = validate_graph(approval_graph(assignees=["alice", "role:boss", ""]))
    assert {i.path for i in issues} >= {"nodes[1].config.assignees[1]", "nodes[1].config.assignees[2]"}, issues
    assert any("role:editor" in i.message for i in issues if i.path.endswith("[1]"))


async def test_the_waiting_request_names_who_is_asked(harness):
    await harness.run(approval_graph(assignees=["alice", "role:editor"]), {"task": "t"})
    waiting = [e for e in harness.events.events if e["event"] == "node_waiting"][0]["data"]
    assert waiting["assignees"] == ["alice", "role:editor"]
