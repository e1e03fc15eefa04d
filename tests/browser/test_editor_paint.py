"""What keeps a pan over a big graph cheap (issue 15, the editor at the graph limit), checked in the DOM:
all edges in one <svg> (vite.config.js patches React Flow), port handles placed without a transform each,
node icons drawn as images, and a drag on the empty canvas capturing the pointer. Each is a paint layer or
hit test fewer per node on every frame (bench/editor_load.py measures the effect; no timing here). And what
must not change with them: edges still end at their handles, an edge can still be clicked, the pane pans."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from graphs import services
from tests.browser.conftest import open_editor

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
  const path = %s, m = path.getScreenCTM();
  const at = (l) => { const p = path.getPointAtLength(l); return [p.x * m.a + m.e, p.y * m.d + m.f]; };
  const side = (sel, right) => { const r = document.querySelector(sel).getBoundingClientRect(); return [right ? r.right : r.left, r.y + r.height / 2]; };
  return { start: at(0), end: at(path.getTotalLength()), out: side('.react-flow__handle[data-nodeid="a"][data-handleid="out"]', true),
           in: side('.react-flow__handle[data-nodeid="b"][data-handleid="text"]', false) };
}""" % PATH

# the screen point of that path halfway along it
EDGE_MIDDLE = """() => { const path = %s, m = path.getScreenCTM(), p = path.getPointAtLength(path.getTotalLength() / 2);
  return [p.x * m.a + m.e, p.y * m.d + m.f]; }""" % PATH


def test_the_canvas_draws_edges_in_one_svg_handles_and_icons_without_layers_of_their_own(login_context, editor_user):
    graph = services.graph_create(owner=editor_user, name="Paint", spec=SPEC).graph
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    # one <svg> holds every edge; no edge is an <svg> of its own
    assert page.evaluate("() => document.querySelector('.react-flow__edges').tagName.toLowerCase()") == "svg"
    assert page.locator(".react-flow__edges > svg:not(.react-flow__marker)").count() == 0
    assert page.locator(".react-flow__edges > g.react-flow__edge").count() == 2
    # port handles are centred by margins, not transforms; the port row, not each port, is positioned
    styles = page.evaluate("""() => [...document.querySelectorAll('.kz-port .react-flow__handle')].map((h) => {
      const s = getComputedStyle(h), port = getComputedStyle(h.parentElement); return [s.transform, port.position]; })""")
    assert styles and all(s == ["none", "static"] for s in styles), styles
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
