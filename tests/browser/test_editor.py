"""The graph editor in Debian's chromium: build, connect, edit, save, reload, undo, import/export, history."""

from __future__ import annotations

import copy
import json

import pytest
from playwright.sync_api import expect

from graphs import selectors, services
from graphs.demo import RESEARCH_BRIEF
from graphs.models import Graph
from tests.browser.conftest import drag_connect, handle, node, open_editor, select_node, shot

pytestmark = pytest.mark.browser


def latest_spec(graph):
    graph.refresh_from_db()
    return selectors.graph_latest(graph).spec


def make_graph(owner, spec=RESEARCH_BRIEF, name="Research brief"):
    return services.graph_create(owner=owner, name=name, spec=copy.deepcopy(spec)).graph


def toast(page, text: str):
    page.locator(".kz-toast", has_text=text).first.wait_for(timeout=8_000)


def test_build_four_node_graph_from_scratch_save_and_reload(login_context, editor_user):
    ctx, problems = login_context(editor_user)
    page = ctx.new_page()
    page.goto("/graphs/new/")
    page.fill("input[name=name]", "From scratch")
    page.click("text=Create and open the editor")
    page.wait_for_selector(".react-flow__node-io")

    # graph input and output in the settings panel
    page.click("text=+ Add input")
    page.fill("#input-name-0", "topic")
    page.press("#input-name-0", "Enter")
    page.click("text=+ Add output")
    page.fill("#output-name-0", "result")
    page.press("#output-name-0", "Enter")

    # four agents dragged from the palette
    canvas = page.locator(".kz-canvas")
    box = canvas.bounding_box()
    item = page.locator('.kz-palette-item[data-kind="agent"]')
    for i in range(4):
        item.drag_to(canvas, target_position={"x": box["width"] * (0.3 + 0.1 * i), "y": box["height"] * 0.3})
    expect(page.locator(".react-flow__node-kaizen")).to_have_count(4)
    page.click("text=Tidy")
    page.wait_for_timeout(400)

    chain = [("@inputs", "topic", "agent_1", "task"), ("agent_1", "answer", "agent_2", "task"),
             ("agent_2", "answer", "agent_3", "task"), ("agent_3", "answer", "agent_4", "task"),
             ("agent_4", "answer", "@outputs", "result")]
    for n, (s, sp, t, tp) in enumerate(chain, start=1):
        drag_connect(page, s, sp, t, tp)
        page.wait_for_function(f"() => document.querySelectorAll('.react-flow__edge').length === {n}")

    # inspector: generated from the kind's JSON Schema
    select_node(page, "agent_1")
    page.fill("#kz-node-label", "Researcher")
    page.fill("#cfg-agent_1-temperature", "0.7")
    page.select_option("#cfg-agent_1-provider", "simulated")
    page.fill("#cfg-agent_1-system_prompt", "You research carefully.")
    select_node(page, "agent_2")
    page.fill("#cfg-agent_2-signature-inputs-0-name", "notes")  # renaming a port keeps its edge
    page.fill("#cfg-agent_2-temperature", "5")
    assert "at most 2" in page.locator('[data-field="temperature"] .field-error').inner_text()
    page.fill("#cfg-agent_2-temperature", "0.3")
    page.click("text=Tidy")
    page.wait_for_timeout(300)
    shot(page, "built-before-save")

    page.keyboard.press("Control+s")
    toast(page, "Saved as version 2")
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved")

    graph = Graph.objects.get(name="From scratch", owner=editor_user)
    spec = latest_spec(graph)
    assert graph.latest_version == 2
    assert sorted(n["id"] for n in spec["nodes"]) == ["agent_1", "agent_2", "agent_3", "agent_4"]
    a1 = next(n for n in spec["nodes"] if n["id"] == "agent_1")
    assert a1["label"] == "Researcher" and a1["config"]["temperature"] == 0.7 and a1["config"]["provider"] == "simulated"
    edges = {(e["source"], e["source_port"], e["target"], e["target_port"]) for e in spec["edges"]}
    assert ("agent_1", "answer", "agent_2", "notes") in edges and len(edges) == 5
    assert spec["inputs"] == {"topic": {"type": "string", "description": "", "required": True}}

    page.reload()
    page.wait_for_selector(".react-flow__node-kaizen")
    page.wait_for_function("() => document.querySelectorAll('.react-flow__edge').length === 5")
    expect(page.locator(".react-flow__node-kaizen")).to_have_count(4)
    expect(node(page, "agent_1").locator(".kz-node-title")).to_have_text("Researcher")
    select_node(page, "agent_1")
    assert page.input_value("#cfg-agent_1-temperature") == "0.7"
    assert latest_spec(graph) == spec
    shot(page, "built-after-reload")
    problems.check()


def test_invalid_connections_are_refused_with_a_reason(login_context, editor_user):
    spec = {
        "schema_version": 1, "inputs": {"topic": {"type": "string"}, "flag": {"type": "boolean"}},
        "outputs": {"answer": {"type": "string"}},
        "nodes": [
            {"id": "a", "kind": "agent", "position": {"x": 0, "y": 0}, "config": {"signature": {
                "inputs": [{"name": "task"}, {"name": "loop", "required": False}], "outputs": [{"name": "answer"}]}}},
            {"id": "b", "kind": "agent", "position": {"x": 340, "y": 0}, "config": {"signature": {
                "inputs": [{"name": "task"}], "outputs": [{"name": "answer"}]}}},
        ],
        "edges": [
            {"source": "@inputs", "source_port": "topic", "target": "a", "target_port": "task"},
            {"source": "a", "source_port": "answer", "target": "b", "target_port": "task"},
            {"source": "b", "source_port": "answer", "target": "@outputs", "target_port": "answer"},
        ],
    }
    graph = make_graph(editor_user, spec, "Rules")
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    expect(page.locator(".react-flow__edge")).to_have_count(3)

    drag_connect(page, "b", "answer", "a", "loop", release=False)  # the reason shows while drawing
    reason = page.locator(".kz-connection-reason")
    reason.wait_for()
    assert "cycle" in reason.inner_text()
    shot(page, "refused-while-drawing")
    page.mouse.up()
    toast(page, "cycle")

    drag_connect(page, "@inputs", "flag", "a", "loop")
    toast(page, "type mismatch: flag is boolean, loop expects string")
    drag_connect(page, "@inputs", "topic", "b", "task")
    toast(page, "already fed by a.answer")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    assert graph.versions.count() == 1

    # dragging an edge's end moves it to another port (b.task is fed by a.answer -> now by @inputs.topic);
    # an edge's ends can be grabbed where the pointer is on it (and on selected edges), not on every edge
    anchors = page.locator(".react-flow__edgeupdater")
    expect(anchors).to_have_count(0)
    src = handle(page, "a", "answer").bounding_box()
    page.mouse.move(src["x"] + src["width"] / 2 + 12, src["y"] + src["height"] / 2)
    expect(anchors).to_have_count(2)
    end = page.locator('.react-flow__edge[data-id="a.answer>b.task"] .react-flow__edgeupdater-source').bounding_box()
    dst = handle(page, "@inputs", "topic").bounding_box()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2)
    page.mouse.down()
    page.mouse.move(dst["x"] + dst["width"] / 2, dst["y"] + dst["height"] / 2, steps=8)
    page.mouse.up()
    page.locator('.react-flow__edge[data-id="@inputs.topic>b.task"]').wait_for()
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    problems.check()


def test_save_error_is_marked_on_the_node_and_nothing_is_lost(login_context, editor_user):
    graph = make_graph(editor_user)
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    select_node(page, "optimist")
    page.fill("#cfg-optimist-temperature", "5")
    page.keyboard.press("Control+s")
    toast(page, "Not saved")
    bad = node(page, "optimist").locator(".kz-node")
    assert "has-issues" in bad.get_attribute("class")
    assert "less than or equal to 2" in bad.locator(".kz-node-issues").inner_text()
    assert "less than or equal to 2" in page.locator('[data-field="temperature"] .field-error').inner_text()
    problems_text = page.locator(".kz-problems-list").inner_text()
    assert problems_text.count("optimist") == 1 and "writer" not in problems_text  # no echo on the fed writer
    shot(page, "save-error")
    graph.refresh_from_db()
    assert graph.latest_version == 1  # the server keeps the last good version
    assert page.input_value("#cfg-optimist-temperature") == "5"  # the browser keeps the edit
    expect(page.get_by_test_id("save-state")).to_have_text("Unsaved changes")

    page.fill("#cfg-optimist-temperature", "0.5")
    page.keyboard.press("Control+s")
    toast(page, "Saved as version 2")
    assert "has-issues" not in node(page, "optimist").locator(".kz-node").get_attribute("class")
    assert next(n for n in latest_spec(graph)["nodes"] if n["id"] == "optimist")["config"]["temperature"] == 0.5
    problems.check(allow=("status of 400",))


def test_undo_redo_copy_paste_duplicate(login_context, editor_user):
    graph = make_graph(editor_user)
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    kaizen = page.locator(".react-flow__node-kaizen")

    select_node(page, "writer")
    page.fill("#kz-node-label", "Editor in chief")
    select_node(page, "skeptic")
    page.keyboard.press("Delete")
    expect(kaizen).to_have_count(2)
    expect(page.locator(".react-flow__edge")).to_have_count(3)

    page.keyboard.press("Control+z")
    expect(kaizen).to_have_count(3)
    expect(page.locator(".react-flow__edge")).to_have_count(5)
    page.keyboard.press("Control+z")
    expect(node(page, "writer").locator(".kz-node-title")).to_have_text("Brief writer")
    page.keyboard.press("Control+Shift+z")
    expect(node(page, "writer").locator(".kz-node-title")).to_have_text("Editor in chief")
    page.keyboard.press("Control+Shift+z")
    expect(kaizen).to_have_count(2)
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    page.keyboard.press("Control+z")
    expect(kaizen).to_have_count(3)

    select_node(page, "optimist")
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    node(page, "optimist_1").wait_for()
    page.keyboard.press("Control+d")
    node(page, "optimist_2").wait_for()
    expect(kaizen).to_have_count(5)
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    expect(kaizen).to_have_count(3)

    # box selection (Shift+drag over the canvas) then delete and undo
    pane = page.locator(".react-flow__pane").bounding_box()
    first = node(page, "optimist").bounding_box()
    last = node(page, "skeptic").bounding_box()
    page.keyboard.down("Shift")
    page.mouse.move(first["x"] - 15, first["y"] - 15)
    page.mouse.down()
    page.mouse.move(last["x"] + last["width"] + 15, last["y"] + last["height"] + 15, steps=6)
    page.mouse.up()
    page.keyboard.up("Shift")
    expect(page.locator(".react-flow__node-kaizen.selected")).to_have_count(2)
    assert pane
    page.keyboard.press("Delete")
    expect(kaizen).to_have_count(1)
    page.keyboard.press("Control+z")
    expect(kaizen).to_have_count(3)
    expect(page.locator(".react-flow__edge")).to_have_count(5)

    page.keyboard.press("?")
    page.locator(".kz-modal", has_text="Keyboard shortcuts").wait_for()
    page.keyboard.press("Escape")
    snap = page.get_by_role("button", name="Snap")
    assert snap.get_attribute("aria-pressed") == "true"
    page.keyboard.press("g")
    assert snap.get_attribute("aria-pressed") == "false"
    page.keyboard.press("g")

    # pasting into another graph (same browser, another tab)
    select_node(page, "optimist")
    page.keyboard.press("Control+c")
    other = make_graph(editor_user, {"schema_version": 1, "nodes": [], "edges": []}, "Empty")
    page2 = open_editor(ctx, other.pk)
    page2.locator(".react-flow__pane").click(position={"x": 30, "y": 30})
    page2.keyboard.press("Control+v")
    node(page2, "optimist").wait_for()
    expect(page2.get_by_test_id("save-state")).to_have_text("Unsaved changes")
    problems.check()


def test_import_export_round_trip(login_context, editor_user, tmp_path):
    graph = make_graph(editor_user)
    original = latest_spec(graph)
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)

    page.click("text=Export")
    exported = json.loads(page.locator(".kz-modal textarea").input_value())
    with page.expect_download() as dl:
        page.click("text=Download")
    assert json.loads(open(dl.value.path()).read()) == exported
    assert exported["nodes"] == original["nodes"] and exported["edges"] == original["edges"]
    page.keyboard.press("Escape")

    select_node(page, "writer")
    page.keyboard.press("Delete")
    expect(page.locator(".react-flow__node-kaizen")).to_have_count(2)

    page.click("text=Import")
    exported_file = tmp_path / "brief.kaizen.json"
    exported_file.write_text(json.dumps({**exported, "description": "from a file"}))
    page.set_input_files(".kz-modal input[type=file]", str(exported_file))
    toast(page, "Imported")
    page.locator(".kz-modal").wait_for(state="detached")
    expect(page.locator(".react-flow__node-kaizen")).to_have_count(3)
    page.keyboard.press("Control+z")  # back to the canvas without the writer
    expect(page.locator(".react-flow__node-kaizen")).to_have_count(2)

    page.click("text=Import")
    broken = {**exported, "edges": exported["edges"] + [{"source": "ghost", "source_port": "x", "target": "writer", "target_port": "risks"}]}
    page.fill(".kz-modal textarea", json.dumps(broken))
    page.click("text=Validate and load")
    page.locator(".kz-modal .kz-issue-box", has_text="missing node 'ghost'").wait_for()
    page.fill(".kz-modal textarea", json.dumps(exported))
    page.click("text=Validate and load")
    page.locator(".kz-modal").wait_for(state="detached")
    expect(page.locator(".react-flow__node-kaizen")).to_have_count(3)
    expect(page.locator(".react-flow__edge")).to_have_count(5)

    page.keyboard.press("Control+s")
    toast(page, "Saved as version 2")
    saved = latest_spec(graph)
    assert saved["nodes"] == original["nodes"] and saved["edges"] == original["edges"]
    problems.check()


def test_history_lists_versions_diffs_and_restores(login_context, editor_user):
    graph = make_graph(editor_user)
    v2 = copy.deepcopy(RESEARCH_BRIEF)
    v2["nodes"][0]["label"] = "Changed optimist"
    services.graph_save(graph=graph, user=editor_user, spec=v2, base_version=1, message="relabel")
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    expect(node(page, "optimist").locator(".kz-node-title")).to_have_text("Changed optimist")

    page.click("text=History")
    page.locator('[data-version="2"]', has_text="relabel").wait_for()
    page.click('[data-version="1"]')
    page.locator(".kz-diff", has_text="1 node changed: optimist").wait_for()
    shot(page, "history")
    page.click("text=Restore v1 as a new version")
    toast(page, "Restored version 1 as version 3")
    expect(page.get_by_test_id("version")).to_have_text("v3")
    expect(node(page, "optimist").locator(".kz-node-title")).to_have_text("Optimist analyst")
    graph.refresh_from_db()
    assert graph.latest_version == 3 and latest_spec(graph)["nodes"][0]["label"] == "Optimist analyst"
    problems.check()


def test_two_users_the_stale_save_is_refused_with_a_clear_message(login_context, editor_user, django_user_model):
    graph = make_graph(editor_user)
    mine, problems = login_context(editor_user)
    staff = django_user_model.objects.create_user("sam", password="pw-sam-123")
    from workspaces.models import Membership, Role

    Membership.objects.create(workspace=graph.workspace, user=staff, role=Role.EDITOR)  # a teammate
    theirs, their_problems = login_context(staff)
    page = open_editor(mine, graph.pk)
    other = open_editor(theirs, graph.pk)  # both start from v1

    select_node(other, "optimist")
    other.fill("#kz-node-label", "Their optimist")
    other.keyboard.press("Control+s")
    toast(other, "Saved as version 2")

    select_node(page, "writer")
    page.fill("#kz-node-label", "My writer")
    page.keyboard.press("Control+s")
    dialog = page.locator(".kz-modal", has_text="Someone else saved this graph")
    dialog.wait_for()
    assert "v2 saved by sam" in dialog.inner_text()
    shot(page, "conflict")
    assert latest_spec(graph)["nodes"][0]["label"] == "Their optimist"  # nothing overwritten
    expect(node(page, "writer").locator(".kz-node-title")).to_have_text("My writer")  # nothing lost
    page.click("text=Save mine on top of v2")
    toast(page, "Saved as version 3")
    assert next(n for n in latest_spec(graph)["nodes"] if n["id"] == "writer")["label"] == "My writer"
    problems.check(allow=("status of 409",))
    their_problems.check()


def test_run_form_from_graph_inputs_starts_a_run_and_opens_the_viewer(login_context, editor_user):
    graph = make_graph(editor_user)
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    select_node(page, "writer")
    page.fill("#kz-node-label", "Writer v2")  # unsaved: the form offers to save first
    page.click("text=▶ Run")
    dialog = page.locator(".kz-modal", has_text="Run graph")
    dialog.locator("textarea").fill("solar power")
    dialog.locator("text=Dry run").click()
    dialog.get_by_role("button", name="Save and run").click()
    page.wait_for_url("**/runs/*/")
    run = graph.runs.get()
    assert run.inputs == {"topic": "solar power"} and run.dry_run
    assert graph.versions.count() == 2
    problems.check(allow=("WebSocket connection",))  # the live server is WSGI: the run page falls back


def test_read_only_viewer_module_shows_run_states(login_context, editor_user):
    graph = make_graph(editor_user)
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    page.evaluate("""(spec) => {
        const el = document.createElement('div'); el.id = 'viewer-test'; el.className = 'kz-viewer';
        document.body.prepend(el);
        const kinds = JSON.parse(document.getElementById('editor-config').textContent).kinds;
        window.testViewer = window.KaizenCanvas.mountViewer(el, {spec, kinds, statuses: {optimist: 'running'}});
    }""", latest_spec(graph))
    viewer = page.locator("#viewer-test")
    viewer.locator(".kz-node.run-running").wait_for()
    page.evaluate("() => window.testViewer.setStatuses({optimist: 'succeeded', skeptic: 'failed'})")
    viewer.locator(".kz-node.run-failed").wait_for()
    expect(viewer.locator(".kz-node.run-succeeded")).to_have_count(1)
    problems.check()


def test_error_edge_from_on_error_to_a_fallback_node(login_context, editor_user):
    from graphs.demo import FALLBACK_ANSWER

    spec = copy.deepcopy(FALLBACK_ANSWER)
    spec["edges"] = [e for e in spec["edges"] if e["kind"] != "error"]
    spec["nodes"][1]["config"]["signature"]["inputs"][0]["required"] = False  # unfed until it is a fallback
    graph = make_graph(editor_user, spec, "Fallback")
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    select_node(page, "primary")  # its "on error" handle shows on the selected node
    src = handle(page, "primary", "__error").bounding_box()
    page.mouse.move(src["x"] + src["width"] / 2, src["y"] + src["height"] / 2)
    page.mouse.down()
    page.mouse.move(src["x"] + 40, src["y"] + 40, steps=3)  # fallback handles appear while drawing from "on error"
    dst = handle(page, "backup", "__fallback").bounding_box()
    page.mouse.move(dst["x"] + dst["width"] / 2, dst["y"] + dst["height"] / 2, steps=5)
    page.mouse.up()
    page.locator(".react-flow__edge .kz-edge-error").wait_for()
    page.keyboard.press("Control+s")
    toast(page, "Saved as version 2")
    assert {"source": "primary", "source_port": "", "target": "backup", "target_port": "", "kind": "error"} in latest_spec(graph)["edges"]
    shot(page, "error-edge")

    page.get_by_test_id("save-state").wait_for()
    select_node(page, "backup")
    page.fill("#kz-node-label", "Backup (edited)")
    page.wait_for_timeout(1300)  # the local draft is written a second after the last change
    with page.expect_event("dialog") as dialog_info:  # unsaved changes: leaving warns
        page.close(run_before_unload=True)
    assert dialog_info.value.type == "beforeunload"
    dialog_info.value.accept()

    page = open_editor(ctx, graph.pk)  # ... and the draft comes back on the next visit
    page.locator(".kz-draft-banner").get_by_role("button", name="Restore them").click()
    expect(node(page, "backup").locator(".kz-node-title")).to_have_text("Backup (edited)")
    expect(page.get_by_test_id("save-state")).to_have_text("Unsaved changes")
    problems.check()


def test_every_registered_kind_can_be_added_and_inspected(login_context, editor_user):
    """The palette and inspector work from the registry alone (no kind is special-cased)."""
    from graphs.engine.nodes import registry

    graph = make_graph(editor_user, {"schema_version": 1, "nodes": [], "edges": []}, "All kinds")
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    kinds = registry.kinds()
    for kind in kinds:
        page.locator(f'.kz-palette-item[data-kind="{kind}"]').click()
    expect(page.locator(".react-flow__node-kaizen")).to_have_count(len(kinds))
    page.click("text=Tidy")
    for kind in kinds:
        select_node(page, f"{kind}_1")
        expect(page.locator(".kz-inspector-title")).to_have_text(registry.get(kind).title)
    # a kind with static outputs next to its signature's (fallback: answer + quality ...) keeps both
    if "fallback" in kinds:
        for port in ("answer", "quality"):
            handle(page, "fallback_1", port).wait_for(state="attached")
    shot(page, "all-kinds")
    problems.check()


def test_graph_settings_rename_and_remove_graph_inputs_keep_edges_consistent(login_context, editor_user):
    graph = make_graph(editor_user)
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    page.fill("#input-name-0", "subject")
    page.press("#input-name-0", "Enter")
    page.locator('.react-flow__edge[data-id="@inputs.subject>optimist.topic"]').wait_for()
    expect(page.locator(".react-flow__edge")).to_have_count(5)
    page.keyboard.press("Control+s")
    toast(page, "Saved as version 2")
    spec = latest_spec(graph)
    assert "subject" in spec["inputs"] and {e["source_port"] for e in spec["edges"] if e["source"] == "@inputs"} == {"subject"}
    assert "graph inputs changed" in graph.versions.get(number=2).message

    page.locator('[data-field="input"] button[title="Remove"]').click()
    expect(page.locator(".react-flow__edge")).to_have_count(3)  # its two edges went with it (Ctrl+Z brings all back)
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__edge")).to_have_count(5)
    problems.check()


FOR_EACH_GRAPH = {
    "schema_version": 1,
    "inputs": {"topics": {"type": "list", "description": "Topics"}},
    "outputs": {"results": {"type": "list"}},
    "nodes": [{"id": "each", "kind": "for_each", "position": {"x": 0, "y": 0}, "config": {}}],
    "edges": [{"source": "@inputs", "source_port": "topics", "target": "each", "target_port": "items"},
              {"source": "each", "source_port": "results", "target": "@outputs", "target_port": "results"}],
}


def test_subgraph_of_a_for_each_node_can_be_drawn(login_context, editor_user):
    graph = make_graph(editor_user, FOR_EACH_GRAPH, "Per topic")
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    select_node(page, "each")
    summary = page.locator('[data-inspector-node="each"] [data-testid="graph-summary"]')
    expect(summary).to_have_text("1 node, 2 edges — inputs: item; outputs: answer")
    page.locator('[data-inspector-node="each"]').get_by_role("button", name="Edit subgraph").click()

    modal = page.locator(".kz-subgraph-modal")
    modal.locator('.react-flow__node[data-id="worker"]').wait_for()
    # replace the default worker by an agent dragged from the nested palette
    modal.locator('.react-flow__node[data-id="worker"] .kz-node-title').click()
    page.keyboard.press("Delete")
    expect(modal.locator(".react-flow__node-kaizen")).to_have_count(0)
    expect(node(page, "each")).to_have_count(1)  # the outer node is untouched
    canvas = modal.locator(".kz-canvas")
    box = canvas.bounding_box()
    modal.locator('.kz-palette-item[data-kind="agent"]').drag_to(canvas, target_position={"x": box["width"] * 0.45, "y": box["height"] * 0.4})
    expect(modal.locator(".react-flow__node-kaizen")).to_have_count(1)
    modal.get_by_role("button", name="Tidy").click()
    page.wait_for_timeout(400)

    def connect(src, sp, dst, dp):
        a = modal.locator(f'.react-flow__handle[data-nodeid="{src}"][data-handleid="{sp}"]').bounding_box()
        b = modal.locator(f'.react-flow__handle[data-nodeid="{dst}"][data-handleid="{dp}"]').bounding_box()
        page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
        page.mouse.down()
        page.mouse.move(b["x"] + b["width"] / 2 + 3, b["y"] + b["height"] / 2 + 3, steps=6)
        page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=2)
        page.mouse.up()

    connect("@inputs", "item", "agent_1", "task")
    expect(modal.locator(".react-flow__edge")).to_have_count(1)
    connect("agent_1", "answer", "@outputs", "answer")
    expect(modal.locator(".react-flow__edge")).to_have_count(2)
    modal.locator('.react-flow__pane').click(position={"x": 30, "y": 30})
    modal.get_by_role("button", name="Tidy").click()
    page.wait_for_timeout(900)  # the fit animation and the live check of the subgraph
    expect(modal.locator(".kz-problems")).to_have_text("No problems · live check")
    shot(page, "subgraph")

    modal.get_by_role("button", name="Done").click()
    expect(modal).to_have_count(0)
    expect(summary).to_have_text("1 node, 2 edges — inputs: item; outputs: answer")

    # Done was one undoable change of the outer graph; Cancel discards
    def reopen(expected):
        page.locator('[data-inspector-node="each"]').get_by_role("button", name="Edit subgraph").click()
        expect(modal.locator(".react-flow__node-kaizen")).to_have_count(1)
        expect(modal.locator(f'.react-flow__node[data-id="{expected}"]')).to_have_count(1)

    page.keyboard.press("Control+z")
    reopen("worker")
    modal.get_by_role("button", name="Cancel").click()
    expect(modal).to_have_count(0)
    page.keyboard.press("Control+Shift+z")
    reopen("agent_1")
    modal.locator('.react-flow__node[data-id="agent_1"] .kz-node-title').click()
    page.keyboard.press("Delete")
    expect(modal.locator(".react-flow__node-kaizen")).to_have_count(0)
    modal.get_by_role("button", name="Cancel").click()
    reopen("agent_1")
    modal.get_by_role("button", name="Cancel").click()
    page.keyboard.press("Control+s")
    toast(page, "Saved as version 2")

    page.reload()
    page.wait_for_selector('.react-flow__node[data-id="each"]')
    select_node(page, "each")
    expect(summary).to_have_text("1 node, 2 edges — inputs: item; outputs: answer")
    shot(page, "subgraph-inspector")
    spec = ctx.request.get(f"/api/graphs/{graph.pk}/").json()["spec"]
    i = next(k for k, n in enumerate(spec["nodes"]) if n["id"] == "each")
    body = spec["nodes"][i]["config"]["body"]
    assert [n["id"] for n in body["nodes"]] == ["agent_1"] and body["nodes"][0]["kind"] == "agent"
    edges = {(e["source"], e["source_port"], e["target"], e["target_port"]) for e in body["edges"]}
    assert edges == {("@inputs", "item", "agent_1", "task"), ("agent_1", "answer", "@outputs", "answer")}
    assert latest_spec(graph) == spec
    problems.check()
