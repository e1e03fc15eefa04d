"""What keeps a pan over a big graph cheap (issue 15, the editor at the graph limit), checked in the DOM:
all edges in one <svg> (vite.config.js patches React Flow), port handles placed without a transform each,
node icons drawn as images, the dot grid inside the viewport, edge end anchors only where a pointer is,
and a drag on the empty canvas capturing the pointer. Each is a paint layer or
hit test fewer per node on every frame (bench/editor_load.py measures the effect; no timing here). And what
must not change with them: edges still end at their handles, an edge can still be clicked, the pane pans."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from graphs import services
from tests.browser.conftest import open_editor, shot

pytestmark = pytest.mark.browser

SPEC = {
    "schema_version": 1, "inputs": {"topic": {"type": "string"}}, "outputs": {},
    "nodes": [
        {"id": "a", "kind": "agent", "position": {"x": 0, "y": 0},
         "config": {"signature": {"inputs": [{"name": "topic", "type": "string"}], "outputs": [{"name": "out", "type": "string"}]}}},
        {"id": "b", "kind": "agent", "position": {"x": 420, "y": 60},
         "config": {"signature": {"inputs": [{"name": "text", "type": "string"}], "outputs": [{"name": "out", "type": "string"}]}}},
    ],
    "edges": [
        {"source": "@inputs", "source_port": "topic", "target": "a", "target_port": "topic", "kind": "data"},
        {"source": "a", "source_port": "out", "target": "b", "target_port": "text", "kind": "data"},
    ],
}

# edge a->b's path (its visible stroke, not the wide invisible one that takes clicks)
PATH = """[...document.querySelectorAll('.react-flow__edge')].find((g) => g.getAttribute('aria-label')?.includes('from a to b'))
  .querySelector('path.react-flow__edge-path')"""

# the end points of that path, and the outer edge's middle of each handle it joins (where React Flow
# anchors an edge: the right side of an output, the left side of an input), in screen pixels
EDGE_ENDS = """() => {
  const path = PATH, m = path.getScreenCTM();
  const at = (l) => { const p = path.getPointAtLength(l); return [p.x * m.a + m.e, p.y * m.d + m.f]; };
  const side = (sel, right) => { const r = document.querySelector(sel).getBoundingClientRect(); return [right ? r.right : r.left, r.y + r.height / 2]; };
  return { start: at(0), end: at(path.getTotalLength()), out: side('.react-flow__handle[data-nodeid="a"][data-handleid="out"]', true),
           in: side('.react-flow__handle[data-nodeid="b"][data-handleid="text"]', false) };
}""".replace("PATH", PATH)

# the screen point of that path halfway along it
EDGE_MIDDLE = """() => { const path = PATH, m = path.getScreenCTM(), p = path.getPointAtLength(path.getTotalLength() / 2);
  return [p.x * m.a + m.e, p.y * m.d + m.f]; }""".replace("PATH", PATH)


def test_the_canvas_draws_edges_in_one_svg_handles_and_icons_without_layers_of_their_own(login_context, editor_user):
    graph = services.graph_create(owner=editor_user, name="Paint", spec=SPEC).graph
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    # one <svg> holds every edge; no edge is an <svg> of its own
    assert page.evaluate("() => document.querySelector('.react-flow__edges').tagName.toLowerCase()") == "svg"
    assert page.locator(".react-flow__edges > svg:not(.react-flow__marker)").count() == 0
    assert page.locator(".react-flow__edges > g.react-flow__edge").count() == 2
    # the dot grid is in the viewport (it moves with the nodes; React Flow's Background, a pattern offset by
    # the pan, repainted the whole canvas on every frame), and no edge carries end anchors until a pointer
    # is on it (two invisible circles per edge, re-layered on every frame of a pan)
    assert page.locator(".react-flow__background").count() == 0
    expect(page.locator(".react-flow__viewport .kz-dots")).to_have_count(1)
    assert page.locator(".react-flow__edgeupdater").count() == 0
    # port handles are centred by margins, not transforms; they sit in their port row, the one positioned
    # element of it (a port's name carries its type tag as CSS content: no element of its own)
    styles = page.evaluate("""() => [...document.querySelectorAll('.kz-port-row .react-flow__handle')].map((h) => {
      const s = getComputedStyle(h), row = h.parentElement; return [s.transform, row.className,
        [...row.children].filter((c) => !c.classList.contains('react-flow__handle') && getComputedStyle(c).position !== 'static').length, row.childElementCount]; })""")
    assert styles and all(s[:3] == ["none", "kz-port-row", 0] and s[3] <= 4 for s in styles), styles
    # a node's icon is an image; the palette keeps its inline icons
    assert page.locator(".react-flow__node-kaizen .kz-node-icon img").count() == 2
    assert page.locator(".react-flow__node-kaizen .kz-node-icon svg").count() == 0
    assert page.evaluate("() => document.querySelector('.react-flow__node-kaizen .kz-node-icon img').naturalWidth") > 0

    # the edge still starts and ends at its handles
    ends = page.evaluate(EDGE_ENDS)
    for point, anchor in ((ends["start"], ends["out"]), (ends["end"], ends["in"])):
        assert abs(point[0] - anchor[0]) < 1 and abs(point[1] - anchor[1]) < 1, ends

    # an edge can still be clicked (its stroke in the shared svg takes the pointer) ...
    mid_x, mid_y = page.evaluate(EDGE_MIDDLE)
    page.mouse.click(mid_x, mid_y)
    expect(page.locator('.react-flow__edge.selected[aria-label*="from a to b"]')).to_have_count(1)

    # ... and a drag on the empty canvas captures the pointer and pans
    before = page.evaluate("() => document.querySelector('.react-flow__viewport').style.transform")
    x, y = page.evaluate("""() => { const r = document.querySelector('.react-flow__pane').getBoundingClientRect();
      for (let y = r.top + 30; y < r.bottom - 30; y += 15) for (let x = r.left + 30; x < r.right - 30; x += 15)
        if (document.elementFromPoint(x, y)?.classList.contains('react-flow__pane')) return [x, y]; }""")  # (empty canvas)
    page.evaluate("""() => { window.__captured = false; document.querySelector('.react-flow__pane')
      .addEventListener('gotpointercapture', () => { window.__captured = true; }, { once: true }); }""")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 80, y - 40, steps=8)
    page.mouse.up()
    assert page.evaluate("() => window.__captured")
    assert page.evaluate("() => document.querySelector('.react-flow__viewport').style.transform") != before
    problems.check()


def big_spec(n: int = 200, width: int = 10) -> dict:
    """A layered graph above the editor's virtualisation threshold (150 nodes): it opens far out."""
    nodes, edges = [], []
    for i in range(n):
        layer, row = divmod(i, width)
        nodes.append({"id": f"n{i}", "kind": "agent", "label": f"Step {i}", "position": {"x": layer * 320, "y": row * 150},
                      "config": {"signature": {"inputs": [{"name": "a", "type": "string"}], "outputs": [{"name": "out", "type": "string"}]}}})
        edges.append({"source": "@inputs" if layer == 0 else f"n{i - width}", "source_port": "topic" if layer == 0 else "out",
                      "target": f"n{i}", "target_port": "a", "kind": "data"})
    return {"schema_version": 1, "inputs": {"topic": {"type": "string"}}, "outputs": {}, "nodes": nodes, "edges": edges}


# the strokes of the low-detail edge layer ("M x,y C ..." each, in paths by tile), and the anchors of the handles of n10's edge
LOD_STROKES = """() => [...document.querySelectorAll('.kz-lod-edges path.kz-edge:not(.kz-edge-error):not(.has-issues)')]
  .flatMap((p) => p.getAttribute('d').split('M').slice(1)).map((s) => s.split(/[ ,C]+/).filter(Boolean).map(Number))"""
ANCHORS = """() => { const vp = document.querySelector('.react-flow__viewport').getBoundingClientRect();
  const zoom = Number(document.querySelector('.react-flow__viewport').style.transform.match(/scale\\(([^)]+)\\)/)[1]);
  const box = (sel) => { const r = document.querySelector(sel).getBoundingClientRect();
    return [(r.left - vp.left) / zoom, (r.right - vp.left) / zoom, (r.top + r.height / 2 - vp.top) / zoom]; };
  const out = box('.react-flow__handle[data-nodeid="n0"][data-handleid="out"]'), inp = box('.react-flow__handle[data-nodeid="n10"][data-handleid="a"]');
  return [out[1], out[2], inp[0], inp[2]]; }"""


def zoom_in(page):
    """Wheel into the middle of a big graph that opened far out, until React Flow draws its edges
    (full detail); the canvas's box."""
    canvas = page.locator(".kz-canvas").bounding_box()
    page.mouse.move(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2)
    for _ in range(6):
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(60)
    expect(page.locator(".kz-lod-edges")).to_have_count(0)
    return canvas


def test_far_out_a_big_graph_draws_its_edges_as_shared_strokes_and_zoomed_in_as_edges(login_context, editor_user):
    spec = big_spec()
    graph = services.graph_create(owner=editor_user, name="Big", spec=spec).graph
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    # far out: no React Flow edge; every edge is one stroke of the shared layer
    page.wait_for_function(f"() => ({LOD_STROKES})().length === {len(spec['edges'])}")
    assert page.locator(".react-flow__edge").count() == 0
    assert page.locator(".kz-dots").count() == 0  # (no dot grid far out: a grey haze at that scale)
    # the stroke of n0 -> n10 starts at n0's output handle and ends at n10's input handle (within a pixel)
    strokes = page.evaluate(LOD_STROKES)
    sx, sy, tx, ty = page.evaluate(ANCHORS)
    stroke = next((s for s in strokes if abs(s[0] - sx) < 1 and abs(s[1] - sy) < 1), None)
    assert stroke, f"no stroke starts at n0's output handle {sx, sy}"
    assert abs(stroke[-2] - tx) < 1 and abs(stroke[-1] - ty) < 1, (stroke, [sx, sy, tx, ty])
    # zoomed in: React Flow's edges come back, the shared layer goes
    zoom_in(page)
    expect(page.locator(".kz-dots")).to_have_count(1)
    # (the edges of this graph are level lines: a box of no height, which Playwright calls hidden; the
    # stroke is what is drawn)
    expect(page.locator(".react-flow__edge path.react-flow__edge-path").first).to_have_attribute("d", re.compile(r"^M[\d.-]+,[\d.-]+ C"))
    width = page.evaluate("() => document.querySelector('.react-flow__edge path.react-flow__edge-path').getBoundingClientRect().width")
    assert width > 50, width
    problems.check()


# a point of the empty canvas, searched from the right (room to drag leftwards)
PANE_FROM_RIGHT = """() => { const r = document.querySelector('.react-flow__pane').getBoundingClientRect();
  for (let x = r.right - 40; x > r.left + 40; x -= 13) for (let y = r.top + 40; y < r.bottom - 40; y += 13)
    if (document.elementFromPoint(x, y)?.classList.contains('react-flow__pane')) return [x, y]; return null; }"""


def test_on_a_big_graph_a_node_just_out_of_view_stays_mounted(login_context, editor_user):
    """Only what is in view is mounted on a big graph, but a node that leaves the view stays mounted
    until it is 200 px out (vite.config.js patches React Flow): a pan back and forth does not unmount
    and remount the nodes along the edge of the view on every turn."""
    graph = services.graph_create(owner=editor_user, name="Big", spec=big_spec()).graph
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    canvas = zoom_in(page)
    page.wait_for_timeout(300)
    # the leftmost node wholly in view
    left = page.evaluate("""(c) => [...document.querySelectorAll('.react-flow__node-kaizen')].map((el) => [el.dataset.id, el.getBoundingClientRect()])
      .filter(([, r]) => r.left > c.x && r.right < c.x + c.width && r.top > c.y && r.bottom < c.y + c.height)
      .sort((a, b) => a[1].left - b[1].left)[0]""", canvas)
    assert left, "no node wholly in view"
    node_id, box = left[0], left[1]
    out = lambda: page.evaluate(f"() => document.querySelector('.react-flow__node[data-id=\"{node_id}\"]')?.getBoundingClientRect().right")  # noqa: E731

    def drag_left(px):
        x, y = page.evaluate(PANE_FROM_RIGHT)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x - px, y, steps=10)
        page.mouse.up()
        page.wait_for_timeout(200)

    # 100 px out of view: still mounted (plain React Flow unmounts it as soon as it is out)
    drag_left(box["right"] - canvas["x"] + 100)
    right = out()
    assert right is not None and right < canvas["x"] - 60, (node_id, right, canvas["x"])
    # far out of view: unmounted, as ever
    drag_left(300)
    expect(page.locator(f'.react-flow__node[data-id="{node_id}"]')).to_have_count(0)
    problems.check()


def test_the_run_canvas_far_out_draws_strokes_too_and_lights_the_active_ones(login_context, editor_user):
    """The read-only canvas (graph page, run page) of a big graph: far out, the same shared strokes, the
    edges a running node reads drawn as active strokes, and the rest not."""
    spec = big_spec()
    graph = services.graph_create(owner=editor_user, name="Big", spec=spec).graph
    ctx, problems = login_context(editor_user, viewport=(1280, 800))
    page = ctx.new_page()
    page.goto(f"/graphs/{graph.pk}/")
    page.wait_for_function(f"() => ({LOD_STROKES})().length === {len(spec['edges'])}")
    assert page.get_by_test_id("graph-diagram").locator(".react-flow__edge").count() == 0
    active = ".kz-lod-edges path.kz-edge.active"
    expect(page.locator(active)).to_have_count(0)
    # n0 -> n10 and n1 -> n11 start running; then only n1 -> n11
    page.evaluate("() => window.kaizenViewer.setActiveEdges({'n0.out>n10.a': true, 'n1.out>n11.a': true})")
    page.wait_for_function(f"() => [...document.querySelectorAll('{active}')].map((p) => p.getAttribute('d').split('M').length - 1)"
                           ".reduce((a, b) => a + b, 0) === 2")
    page.evaluate("() => window.kaizenViewer.setActiveEdges({'n1.out>n11.a': true})")
    page.wait_for_function(f"() => [...document.querySelectorAll('{active}')].map((p) => p.getAttribute('d').split('M').length - 1)"
                           ".reduce((a, b) => a + b, 0) === 1")
    # every edge is still drawn once: the active one moved out of the plain strokes
    plain = page.evaluate(LOD_STROKES.replace(":not(.has-issues)", ":not(.has-issues):not(.active)"))
    assert len(plain) == len(spec["edges"]) - 1
    shot(page, "run-canvas-far-out-active")
    problems.check()
