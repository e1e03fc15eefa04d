"""Editor benchmark: load-to-interactive and pan/zoom/drag frame times for graphs of given sizes.

Runs Django in-process (embedded SQLite in a temporary KAIZEN_VAR_DIR unless DATABASE_URL is set)
behind a threaded WSGI server with static files, and drives Debian's chromium with Playwright.
Run it from any directory with the checkout's own interpreter, once the front end is built
(scripts/serve or scripts/test build it; or `npm ci && npm run build` in frontend/):

    <checkout>/.venv/bin/python <checkout>/bench/editor_load.py [--sizes 100,500,2000] [--repeat 3]

To compare two builds of the editor in one run (same server, same graphs, same machine load,
loads interleaved), copy the other build aside and name it with --against:

    cp -r static/build/editor /tmp/editor-before   # then change frontend/src and npm run build
    .venv/bin/python bench/editor_load.py --sizes 2000 --repeat 3 --against /tmp/editor-before

Load-to-interactive: from navigation start until the canvas is drawn (every node React Flow mounts
is measured and visible, its edges drawn, and nothing changes for a frame; above a few hundred nodes
the editor mounts only what is in view), plus the time from a click on a node to the node drawn as
selected. The timing is injected by this script (an init script): the production bundle carries no
benchmark hooks. Frame times: requestAnimationFrame deltas while the mouse pans the canvas, drags a
node, and the wheel zooms; and the renderer main thread's CPU time per mouse step of a second pan (from a
Chromium trace: thread time, which a loaded machine inflates far less than frame times). Pans are
measured twice: at the opening view (a big graph opens at 25 % zoom, nodes in low detail) and zoomed
in to ~45 % (full detail).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KAIZEN_VAR_DIR", tempfile.mkdtemp(prefix="kaizen-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaizen_web.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def layered_graph(n_nodes: int, n_edges: int, width: int = 20) -> dict:
    """A valid DAG of agents in layers: input `a` fed from the layer before, optional `b` from two layers before."""
    nodes, edges = [], []
    for i in range(n_nodes):
        layer, row = divmod(i, width)
        nodes.append({"id": f"n{i}", "kind": "agent", "label": f"Step {i}", "position": {"x": layer * 320, "y": row * 150},
                      "config": {"signature": {"inputs": [{"name": "a", "type": "string"}, {"name": "b", "type": "string", "required": False}],
                                               "outputs": [{"name": "out", "type": "string"}]}}})
        src = "@inputs" if layer == 0 else f"n{i - width}"
        edges.append({"source": src, "source_port": "topic" if layer == 0 else "out", "target": f"n{i}", "target_port": "a", "kind": "data"})
    extra = n_edges - len(edges)
    for i in range(2 * width, n_nodes):
        if extra <= 0:
            break
        edges.append({"source": f"n{i - 2 * width + (1 if i % width < width - 1 else -1)}", "source_port": "out",
                      "target": f"n{i}", "target_port": "b", "kind": "data"})
        extra -= 1
    return {"schema_version": 1, "description": "benchmark", "inputs": {"topic": {"type": "string"}}, "outputs": {},
            "nodes": nodes, "edges": edges, "settings": {}}


def bench_site():
    """Django set up and migrated, a logged-in bench user, the server: (user, session cookie, server, base URL)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench")
    client = Client()
    client.force_login(user)
    server, base = serve()
    return user, client.cookies["sessionid"].value, server, base


def serve():
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet)
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def frame_stats(deltas: list[float]) -> tuple[float, float, float, float]:
    """median, p95, max, and the share of frames that missed a vsync (% over 20 ms: at 60 Hz the
    deltas are multiples of 16.7 ms, so p95 reads 33.4 as soon as 5 % of the frames took two)."""
    deltas = sorted(deltas)
    p95 = deltas[min(len(deltas) - 1, int(len(deltas) * 0.95))]
    return statistics.median(deltas), p95, deltas[-1], 100 * sum(d > 20 for d in deltas) / max(1, len(deltas))


PANE_POINT = """() => { const r = document.querySelector('.kz-canvas').getBoundingClientRect();
  for (let y = r.top + 40; y < r.bottom - 150; y += 17) for (let x = r.left + 60; x < r.right - 260; x += 23) {
    const el = document.elementFromPoint(x, y); if (el && el.classList.contains('react-flow__pane')) return [x, y]; }
  return null; }"""

# The box of the mounted node nearest a point of the canvas (given as fractions of its size).
NODE_NEAR = """([fx, fy]) => { const c = document.querySelector('.kz-canvas').getBoundingClientRect();
  const px = c.left + c.width * fx, py = c.top + c.height * fy; let best = null, bd = Infinity;
  for (const el of document.querySelectorAll('.react-flow__node-kaizen')) {
    const r = el.getBoundingClientRect(), d = Math.hypot(r.left + r.width / 2 - px, r.top + r.height / 2 - py);
    if (d < bd) { bd = d; best = { x: r.left, y: r.top, width: r.width, height: r.height }; } }
  return best; }"""

CLICK_PROBE = """() => {
  window.__kzSelectedAt = 0;
  document.addEventListener('pointerdown', (e) => { window.__kzDownAt = e.timeStamp; }, { capture: true, once: true });
  const obs = new MutationObserver(() => {
    if (document.querySelector('.react-flow__node-kaizen.selected')) {
      requestAnimationFrame(() => { window.__kzSelectedAt = performance.now(); }); obs.disconnect(); }
  });
  obs.observe(document.querySelector('.react-flow__nodes'), { subtree: true, attributes: true, attributeFilter: ['class'] });
}"""

# Injected before the page's own scripts: polls once per frame until the canvas has settled, and
# records when (performance.now() counts from navigation start).
READY_PROBE = """(() => {
  let last = null, lastAt = 0;
  const poll = () => {
    const nodes = document.querySelectorAll('.react-flow__node');
    // (far out on a big graph the editor draws edges as strokes of shared paths: one "M" each)
    const edges = document.querySelectorAll('.react-flow__edge').length + [...document.querySelectorAll('.kz-lod-edges path')]
      .reduce((n, p) => n + (p.getAttribute('d') || '').split('M').length - 1, 0);
    let settled = nodes.length > 0 && edges > 0;
    if (settled) for (const n of nodes) if (n.style.visibility === 'hidden') { settled = false; break; }
    const key = settled ? `${nodes.length}/${edges}` : null;
    if (key && key === last) { window.__benchReady = lastAt; return; }
    if (key !== last) { last = key; lastAt = performance.now(); }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
})();"""

RAF_START = """() => { window.__frames = []; let last = performance.now(); window.__rafOn = true;
  const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__rafOn) requestAnimationFrame(tick); };
  requestAnimationFrame(tick); }"""


def use_bundle(ctx, bundle: Path | None) -> None:
    """Serve the editor's bundle (editor.js, editor.css) from another build directory (--against)."""
    if bundle is None:
        return
    types = {".js": "text/javascript", ".css": "text/css"}
    ctx.route("**/static/build/editor/**", lambda route: route.fulfill(
        path=str(bundle / route.request.url.split("?")[0].rsplit("/", 1)[-1]),
        content_type=types.get(Path(route.request.url.split("?")[0]).suffix, "application/octet-stream")))


def measure(browser, base: str, cookie: str, graph_id: int, n_nodes: int, n_edges: int, bundle: Path | None = None) -> dict:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    use_bundle(ctx, bundle)
    ctx.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
    ctx.add_init_script(READY_PROBE)
    page = ctx.new_page()
    page.goto(f"{base}/graphs/{graph_id}/edit/", wait_until="commit")
    page.wait_for_function("() => window.__benchReady", timeout=60_000, polling=100)
    ready_ms = page.evaluate("() => window.__benchReady")
    if os.environ.get("BENCH_DEBUG"):
        print(n_nodes, page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
          const r = (s) => performance.getEntriesByType('resource').find((e) => e.name.includes(s));
          return {ttfb: n.responseStart, html: n.responseEnd, js: [r('editor.js').requestStart, r('editor.js').responseEnd],
                  css: r('editor.css').responseEnd, dcl: n.domContentLoadedEventEnd, ready: window.__benchReady,
                  mounted: [document.querySelectorAll('.react-flow__node').length, document.querySelectorAll('.react-flow__edge').length]}; }"""))
    # first click: from the pointerdown event to the node drawn as selected, timed inside the page
    page.evaluate(CLICK_PROBE)
    box = page.evaluate(NODE_NEAR, [0.5, 0.5])
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => window.__kzSelectedAt", timeout=10_000)
    click_ms = page.evaluate("() => window.__kzSelectedAt - window.__kzDownAt")
    interactive_ms = ready_ms + click_ms
    page.keyboard.press("Escape")
    canvas = page.locator(".kz-canvas").bounding_box()
    cx, cy = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    # a pan at the opening view (a big graph opens at 25 %: nodes in low detail) ...
    pan_open = pan_frames(page, cx, cy)
    pan_open_cpu = pan_cpu_per_step(browser, page)
    page.mouse.move(cx, cy)  # (the wheel zooms where the pointer is: over the canvas, not the toolbar)
    page.mouse.wheel(0, -400)  # ... and zoomed in a little (to ~45 %, full detail): readable
    page.wait_for_timeout(300)
    pan = pan_frames(page, cx, cy)
    pan_cpu = pan_cpu_per_step(browser, page)
    # drag one node around (controlled-flow round trip per frame)
    nb = page.evaluate(NODE_NEAR, [0.35, 0.4])
    if nb is None:
        raise SystemExit(f"{n_nodes} nodes: no node in view to drag after the pans and the zoom")
    page.evaluate(RAF_START)
    page.mouse.move(nb["x"] + nb["width"] / 2, nb["y"] + 6)
    page.mouse.down()
    for i in range(60):
        page.mouse.move(nb["x"] + nb["width"] / 2 + i * 4, nb["y"] + 6 + i * 2)
    page.mouse.up()
    drag = page.evaluate("() => { window.__rafOn = false; return window.__frames.slice(2); }")
    page.evaluate(RAF_START)
    for _ in range(20):
        page.mouse.wheel(0, 60)
        page.wait_for_timeout(16)
    zoom = page.evaluate("() => { window.__rafOn = false; return window.__frames.slice(2); }")
    ctx.close()
    return {"interactive_ms": interactive_ms, "ready_ms": ready_ms, "click_ms": click_ms,
            "pan": frame_stats(pan), "zoom": frame_stats(zoom), "drag": frame_stats(drag), "pan_cpu": pan_cpu,
            "pan_open": frame_stats(pan_open), "pan_open_cpu": pan_open_cpu}


def pan_frames(page, cx: float, cy: float) -> list[float]:
    """requestAnimationFrame deltas while the mouse drags the empty canvas (90 steps)."""
    px, py = page.evaluate(PANE_POINT) or (cx, cy)  # start on empty canvas so the drag pans
    page.evaluate(RAF_START)
    pan_moves(page, px, py, dy=-3)
    return page.evaluate("() => { window.__rafOn = false; return window.__frames.slice(2); }")


PAN_STEPS = 90


def pan_moves(page, px: float, py: float, dy: float, dx: float = -6) -> None:
    """The bench's pan: a drag from (px, py), ``dx`` px per step (left by default), and up or down
    (dy) by up to 87 px and back every 30 steps."""
    page.mouse.move(px, py)
    page.mouse.down()
    for i in range(PAN_STEPS):
        page.mouse.move(px + i * dx, py + (i % 30) * dy)
    page.mouse.up()


def pan_cpu_per_step(browser, page) -> float:
    """The renderer main thread's CPU time per mouse step of a second pan, from a Chromium trace
    (thread time, not wall time: on a machine loaded by other work, frame times say more about the
    load than about the page; this number moves much less)."""
    import json

    px, py = page.evaluate(PANE_POINT) or (0, 0)
    browser.start_tracing(page=page, categories=["devtools.timeline", "disabled-by-default-devtools.timeline"])
    # (to the right: back over the view the frame-timed pan left, so a small graph stays in view
    # for what follows; 4 pans to the left took a 200-node graph out of it)
    pan_moves(page, px, py, dy=3, dx=6)
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    events = json.loads(browser.stop_tracing())["traceEvents"]
    mains = {e["tid"] for e in events if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"}
    cpu: dict[int, float] = {}
    for e in events:
        if e.get("tid") in mains and e.get("ph") == "X" and e.get("name") == "RunTask":
            cpu[e["tid"]] = cpu.get(e["tid"], 0) + e.get("tdur", 0)
    return max(cpu.values(), default=0) / 1000 / PAN_STEPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--against", type=Path, default=None,
                        help="another build's static/build/editor directory, measured interleaved with this checkout's")
    args = parser.parse_args()
    if not (ROOT / "static/build/editor/editor.js").exists():
        sys.exit(f"{ROOT / 'static/build/editor/editor.js'} is missing: build the front end (npm ci && npm run build in {ROOT / 'frontend'})")
    if args.against and not (args.against / "editor.js").exists():
        sys.exit(f"--against {args.against}: no editor.js there")

    user, cookie, server, base = bench_site()
    from graphs import services

    sizes = [int(s) for s in args.sizes.split(",")]
    graphs = {}
    for n in sizes:
        n_edges = int(n * 1.2)
        graphs[n] = (services.graph_create(owner=user, name=f"bench {n}", spec=layered_graph(n, n_edges)).graph.pk, n_edges)

    from playwright.sync_api import sync_playwright

    builds = [("this", None)] + ([("against", args.against)] if args.against else [])
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        measure(browser, base, cookie, graphs[sizes[0]][0], sizes[0], graphs[sizes[0]][1])  # warm up server and caches
        for n in sizes:
            gid, n_edges = graphs[n]
            runs: dict[str, list[dict]] = {name: [] for name, _ in builds}
            for i in range(args.repeat):
                # interleaved, alternating which goes first, so a change in the machine's load hits both
                for name, bundle in (builds if i % 2 == 0 else builds[::-1]):
                    runs[name].append(measure(browser, base, cookie, gid, n, n_edges, bundle))
            rows += [(n, n_edges, name, runs[name]) for name, _ in builds]
        browser.close()
    server.shutdown()
    med = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
    worst = lambda runs, key, i: max(r[key][i] for r in runs)  # noqa: E731
    print(f"editor load and frame times, median of {args.repeat} loads (frame p95 = worst run; late % = frames over 20 ms, median), "
          "1440x900 headless chromium, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'build':>7} {'nodes':>5} {'edges':>5} {'ready ms':>9} {'click ms':>9} {'interactive ms':>15} "
          f"{'pan p50/p95 ms':>15} {'zoom p50/p95 ms':>16} {'drag p50/p95 ms':>16} {'pan cpu ms/step':>16} "
          f"{'pan@25% p50/p95':>16} {'cpu ms/step':>12} {'pan late %':>10} {'pan@25% late %':>14}")
    for n, e, name, runs in rows:
        print(f"{name:>7} {n:>5} {e:>5} {med(runs, 'ready_ms'):>9.0f} {med(runs, 'click_ms'):>9.0f} {med(runs, 'interactive_ms'):>15.0f} "
              f"{statistics.median(r['pan'][0] for r in runs):>8.1f}/{worst(runs, 'pan', 1):<6.1f} "
              f"{statistics.median(r['zoom'][0] for r in runs):>9.1f}/{worst(runs, 'zoom', 1):<6.1f} "
              f"{statistics.median(r['drag'][0] for r in runs):>9.1f}/{worst(runs, 'drag', 1):<6.1f} "
              f"{statistics.median(r['pan_cpu'] for r in runs):>10.1f}      "
              f"{statistics.median(r['pan_open'][0] for r in runs):>9.1f}/{worst(runs, 'pan_open', 1):<6.1f} "
              f"{statistics.median(r['pan_open_cpu'] for r in runs):>8.1f} "
              f"{statistics.median(r['pan'][3] for r in runs):>10.1f} {statistics.median(r['pan_open'][3] for r in runs):>14.1f}")
    print("pan p95 ms by load (full detail | at 25 %):")
    for n, _e, name, runs in rows:
        full = " ".join(f"{r['pan'][1]:.1f}" for r in runs)
        far = " ".join(f"{r['pan_open'][1]:.1f}" for r in runs)
        print(f"{name:>7} {n:>5}  {full}  |  {far}")

if __name__ == "__main__":
    main()
