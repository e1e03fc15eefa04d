"""An editor read at a glance (issue 15 item 3): click-to-add, collapsible panels, a hideable minimap,
titles and port names never truncated mid-word, human field labels, consensus voters and fallback
levels as rows inside their node (lit by the run viewer), and the graph page's read-only diagram."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from graphs import services
from graphs.pattern_templates import template_get
from tests.browser.conftest import node, open_editor, select_node, shot

pytestmark = pytest.mark.browser

TRUNCATED = """(root) => [...root.querySelectorAll('.kz-node-title, .kz-port-name, .kz-member-name')]
  .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.textContent)"""


def empty_graph(owner, name="Readable"):
    return services.graph_create(owner=owner, name=name, spec={"schema_version": 1, "nodes": [], "edges": []}).graph


def test_a_click_on_the_palette_adds_and_panels_and_minimap_fold_away(login_context, editor_user):
    graph = empty_graph(editor_user)
    ctx, problems = login_context(editor_user, viewport=(1280, 800))
    page = open_editor(ctx, graph.pk)
    page.locator('.kz-palette-item[data-kind="agent"]').click()
    expect(page.locator(".react-flow__node-kaizen")).to_have_count(1)
    page.locator('.kz-palette-item[data-kind="agent"]').press("Enter")
    expect(page.locator(".react-flow__node-kaizen")).to_have_count(2)
    canvas_before = page.locator(".kz-canvas").bounding_box()["width"]
    expect(page.locator(".react-flow__minimap")).to_be_visible()
    page.get_by_role("button", name="Palette", exact=True).click()
    page.get_by_role("button", name="Inspector", exact=True).click()
    page.get_by_role("button", name="Map", exact=True).click()
    expect(page.locator(".kz-palette")).to_be_hidden()
    expect(page.locator(".kz-side")).to_be_hidden()
    expect(page.locator(".react-flow__minimap")).to_have_count(0)
    assert page.locator(".kz-canvas").bounding_box()["width"] > canvas_before + 500  # the canvas takes the room
    shot(page, "panels-folded")
    page.reload()  # the choice is remembered
    page.wait_for_selector(".react-flow__node-io")
    expect(page.locator(".kz-palette")).to_be_hidden()
    expect(page.locator(".react-flow__minimap")).to_have_count(0)
    page.get_by_role("button", name="Palette", exact=True).click()
    expect(page.locator(".kz-palette")).to_be_visible()
    problems.check()


def test_consensus_and_fallback_show_their_voters_and_levels_and_nothing_is_cut(login_context, editor_user):
    graph = empty_graph(editor_user, "Patterns")
    ctx, problems = login_context(editor_user, viewport=(1280, 800))
    page = open_editor(ctx, graph.pk)
    page.locator('.kz-palette-item[data-kind="consensus"]').click()
    page.locator('.kz-palette-item[data-kind="fallback"]').click()
    page.click("text=Tidy")
    voters = node(page, "consensus_1").locator(".kz-member")
    levels = node(page, "fallback_1").locator(".kz-member")
    expect(voters.first).to_be_visible()
    from graphs.engine.nodes.consensus import ConsensusConfig
    from graphs.engine.nodes.fallback import FallbackConfig

    default_voters = ConsensusConfig().voters
    default_levels = FallbackConfig().levels
    expect(voters).to_have_count(len(default_voters))
    expect(levels).to_have_count(len(default_levels))
    first = default_voters[0]
    expect(voters.first).to_contain_text(first.name)
    expect(voters.first).to_contain_text(first.model)
    expect(voters.first).to_contain_text(f"t={first.temperature:g}")
    expect(levels.first).to_contain_text(f"1. {default_levels[0].model}")
    expect(levels.first).to_contain_text(default_levels[0].quality)
    shot(page, "consensus-fallback-rows")
    assert page.evaluate(TRUNCATED, page.locator(".react-flow__nodes").element_handle()) == []
    # the inspector's labels are written for people, not pydantic's "Timeout S"
    select_node(page, "consensus_1")
    labels = page.locator(".kz-inspector label").all_inner_texts()
    assert not any(label.strip().endswith(" S") or "Timeout S" in label for label in labels), labels
    assert any("LLM timeout (seconds)" in label for label in labels), " | ".join(labels)
    shot(page, "consensus-fallback-rows")
    problems.check()


def test_long_port_names_are_abbreviated_at_a_word_with_the_full_name_in_the_tooltip(login_context, editor_user):
    spec = {"schema_version": 1, "inputs": {"t": {"type": "string"}}, "outputs": {"r": {"type": "string"}},
            "edges": [{"source": "@inputs", "source_port": "t", "target": "a", "target_port": "customer_support_ticket_history"},
                      {"source": "a", "source_port": "summarised_answer_for_the_customer", "target": "@outputs", "target_port": "r"}],
            "nodes": [
        {"id": "a", "kind": "agent", "label": "A rather long title for an agent that summarises", "position": {"x": 0, "y": 0},
         "config": {"signature": {"inputs": [{"name": "customer_support_ticket_history", "type": "string"}],
                                  "outputs": [{"name": "summarised_answer_for_the_customer", "type": "string"}]}}}]}
    graph = services.graph_create(owner=editor_user, name="Long", spec=spec).graph
    ctx, problems = login_context(editor_user, viewport=(1280, 800))
    page = open_editor(ctx, graph.pk)
    a = node(page, "a")
    expect(a.locator(".kz-node-title")).to_have_text("A rather long title for an agent that summarises")
    names = a.locator(".kz-port-name")
    expect(names.nth(0)).to_have_text("customer_support…")
    expect(names.nth(0)).to_have_attribute("title", "customer_support_ticket_history: string")
    expect(names.nth(1)).to_have_text("summarised_answer…")
    assert page.evaluate(TRUNCATED, page.locator(".react-flow__nodes").element_handle()) == []
    # the graph stores no place for its outputs: they are drawn right of the wide node, not over it
    box, outputs = a.bounding_box(), node(page, "@outputs").bounding_box()
    assert outputs["x"] > box["x"] + box["width"], (box, outputs)
    shot(page, "long-names")
    problems.check()


def test_the_graph_page_shows_the_diagram_read_only_and_the_viewer_lights_members(login_context, editor_user):
    spec = template_get("consensus").spec
    graph = services.graph_create(owner=editor_user, name="Vote", spec=spec).graph
    ctx, problems = login_context(editor_user, viewport=(1280, 800))
    page = ctx.new_page()
    page.goto(f"/graphs/{graph.pk}/")
    diagram = page.get_by_test_id("graph-diagram")
    expect(diagram.locator(".react-flow__node")).to_have_count(len(spec["nodes"]) + 2)
    expect(page.locator(".kz-palette")).to_have_count(0)  # read-only: no palette, no inspector
    vote = next(n for n in spec["nodes"] if n["kind"] == "consensus")
    rows = diagram.locator(f'.react-flow__node[data-id="{vote["id"]}"] .kz-member')
    expect(rows).to_have_count(len(vote["config"]["voters"]))
    name = vote["config"]["voters"][0]["name"]
    page.evaluate("([id, name]) => window.kaizenViewer.setMembers({[id]: {[name]: 'running'}})", [vote["id"], name])
    expect(rows.first).to_have_class("kz-member lit-running")
    shot(page, "graph-page-diagram")
    # drawn, not only mounted: the canvas has the diagram's height and the node lies inside it
    flow = diagram.locator(".react-flow").bounding_box()
    box = diagram.locator(f'.react-flow__node[data-id="{vote["id"]}"]').bounding_box()
    assert flow["height"] > 300 and flow["y"] <= box["y"] and box["y"] + 40 <= flow["y"] + flow["height"], (flow, box)
    problems.check()


def test_a_big_graph_mounts_only_what_is_in_view_and_edges_meet_their_ports(login_context, editor_user):
    """Above a few hundred nodes the editor mounts the nodes in view (not all of them once to measure
    them): the rest have an estimated size and ports until they scroll into view."""
    from bench.editor_load import layered_graph

    graph = services.graph_create(owner=editor_user, name="Big", spec=layered_graph(400, 480)).graph
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    page.wait_for_selector(".react-flow__node-kaizen")
    page.wait_for_timeout(500)
    mounted = page.locator(".react-flow__node-kaizen").count()
    assert 0 < mounted < 400, mounted
    # an edge between two mounted nodes ends on its target's handle (measured, not estimated); far out,
    # as this graph opens, edges are strokes of one shared path (canvas.jsx LodEdges), so: the stroke end
    # nearest a mounted node's input handle, in screen pixels
    gap = page.evaluate("""() => {
      const paths = [...document.querySelectorAll('.kz-lod-edges path.kz-edge')]; if (!paths.length) return null;
      const ctm = paths[0].getScreenCTM();
      const ends = paths.flatMap((p) => p.getAttribute('d').split('M').slice(1)).map((s) => s.split(/[ ,C]+/).filter(Boolean).map(Number).slice(-2))
        .map(([x, y]) => [x * ctm.a + ctm.e, y * ctm.d + ctm.f]);
      const h = document.querySelector('.react-flow__node-kaizen .react-flow__handle[data-handleid="a"]'); if (!h) return null;
      const r = h.getBoundingClientRect(), x = r.left, y = r.top + r.height / 2;
      return Math.min(...ends.map(([ex, ey]) => Math.hypot(ex - x, ey - y))); }""")
    assert gap is not None and gap < 4, gap
    before = set(page.eval_on_selector_all(".react-flow__node-kaizen", "els => els.map((e) => e.dataset.id)"))
    box = page.locator(".kz-canvas").bounding_box()
    shot(page, "big-graph-opened")
    page.mouse.move(box["x"] + box["width"] - 60, box["y"] + 8)
    page.mouse.down()
    page.mouse.move(box["x"] + 60, box["y"] + 8, steps=12)
    page.mouse.up()
    page.wait_for_timeout(300)
    after = set(page.eval_on_selector_all(".react-flow__node-kaizen", "els => els.map((e) => e.dataset.id)"))
    shot(page, "big-graph-panned")
    assert after - before, "panning brings other nodes into view"
    problems.check()


ZOOM = "() => Number(/scale\\(([\\d.]+)\\)/.exec(document.querySelector('.kz-canvas .react-flow__viewport').style.transform)[1])"
OVERLAPS = """(root) => { const r = [...document.querySelectorAll((root || '.kz-canvas') + ' .react-flow__node')].map((e) => [e.dataset.id, e.getBoundingClientRect()]);
  const out = []; for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) { const [a, p] = r[i], [b, q] = r[j];
    if (p.left < q.right && q.left < p.right && p.top < q.bottom && q.top < p.bottom) out.push([a, b]); } return out; }"""


def test_a_template_opens_tidied_and_reads_after_fit(login_context, editor_user):
    """The 13-node parallel template: laid out for the canvas when opened (no overlaps, nothing cut),
    and Fit shows it at a zoom where its text reads; Tidy puts a moved node back."""
    from graphs.api.template_views import instantiate

    graph = instantiate(user=editor_user, slug="parallel-pipeline").graph
    assert len(template_get("parallel-pipeline").spec["nodes"]) == 13
    ctx, problems = login_context(editor_user, viewport=(1280, 800))
    page = open_editor(ctx, graph.pk)
    expect(page.locator(".react-flow__node-kaizen")).to_have_count(13)
    page.get_by_role("button", name="Fit", exact=True).click()
    page.wait_for_timeout(500)
    zoom = page.evaluate(ZOOM)
    shot(page, "template-parallel-fit")
    assert zoom >= 0.5, zoom  # 13 px titles at 6.5 px or more (was 0.35 with the template's grid)
    assert page.evaluate(OVERLAPS) == []
    assert page.evaluate(TRUNCATED, page.locator(".react-flow__nodes").element_handle()) == []
    shot(page, "template-parallel-fit")
    # a node dropped onto another; Tidy lays the graph out again
    a, b = node(page, "join").bounding_box(), node(page, "validator").bounding_box()
    page.mouse.move(a["x"] + 30, a["y"] + 12)
    page.mouse.down()
    page.mouse.move(b["x"] + 40, b["y"] + 20, steps=6)
    page.mouse.up()
    assert page.evaluate(OVERLAPS) != []
    page.get_by_role("button", name="Tidy", exact=True).click()
    page.wait_for_timeout(600)
    assert page.evaluate(OVERLAPS) == []
    assert page.evaluate(ZOOM) >= 0.5
    # the graph page's diagram lays it out the same way
    page.goto(f"/graphs/{graph.pk}/")
    diagram = page.get_by_test_id("graph-diagram")
    expect(diagram.locator(".react-flow__node-kaizen")).to_have_count(13)
    page.wait_for_timeout(300)
    shot(page, "template-parallel-graph-page")
    assert page.evaluate(OVERLAPS, "[data-testid=graph-diagram]") == [], "read-only nodes are wider (a status badge): laid out at that width"
    problems.check()


def test_read_only_diagrams_lay_out_nodes_stored_over_each_other(login_context, editor_user):
    """Positions that make nodes cover each other (the template's old grid, made for narrower nodes,
    or positions written through the API) are laid out for the graph page's diagram and the run
    canvas; the stored positions stay as they were."""
    spec = template_get("parallel-pipeline").spec  # (placed on its grid, as `kaizen_templates` once stored it)
    graph = services.graph_create(owner=editor_user, name="Grid", spec=spec).graph
    run = services.run_start(graph=graph, user=editor_user, inputs={"request": "r"})
    ctx, problems = login_context(editor_user, viewport=(1280, 800))
    page = ctx.new_page()
    page.goto(f"/graphs/{graph.pk}/")
    diagram = page.get_by_test_id("graph-diagram")
    expect(diagram.locator(".react-flow__node-kaizen")).to_have_count(13)
    page.wait_for_timeout(300)
    shot(page, "grid-positions-graph-page")
    assert page.evaluate(OVERLAPS, "[data-testid=graph-diagram]") == []
    page.goto(f"/runs/{run.pk}/")
    expect(page.locator("#run-canvas .react-flow__node-kaizen")).to_have_count(13)
    page.wait_for_timeout(300)
    assert page.evaluate(OVERLAPS, "#run-canvas") == []
    assert graph.versions.get().spec["nodes"][0]["position"] == spec["nodes"][0]["position"]
    problems.check(allow=("/ws/runs/",))  # (this server speaks no websocket: the run page's stream is refused)
