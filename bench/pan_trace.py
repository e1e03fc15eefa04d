"""Where a pan's frames go: one full-detail pan over a big graph in the editor, traced in Chromium.

    <checkout>/.venv/bin/python <checkout>/bench/pan_trace.py [--nodes 2000] [--loads 2]
        [--against <another build's static/build/editor>] [--css "<a stylesheet to add>"] [--js-profile]

The same graph, zoom (~45 %) and mouse path as bench/editor_load.py's pan. Per load it prints the
frames (rAF deltas) that missed a vsync, then the renderer main thread's time by trace event
(exclusive ms, summed over the pan), the tasks over 25 ms with their largest items, and which
elements were painted how often. `--css` adds a stylesheet before the pan (the page's
Content-Security-Policy is bypassed for it): a what-if without a rebuild, e.g. `--css
'.react-flow__edges{display:none}'` says what the edges cost. `--js-profile` records a V8 CPU
profile of the pan instead of the trace and prints the functions with the most self and inclusive
time (build the front end unminified for names: `npx vite build --minify false --outDir /tmp/x`
in frontend/, then `--against /tmp/x`). Under tracing frames are slower than in editor_load.py:
compare loads of one invocation or of one machine hour.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("KAIZEN_VAR_DIR", tempfile.mkdtemp(prefix="kaizen-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaizen_web.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import editor_load as el  # noqa: E402  (the editor bench's server, graph, probes and pan)


def exclusive_times(events: list[dict], tid: int) -> tuple[collections.Counter, list[tuple[float, collections.Counter]]]:
    """Exclusive time per event name on the main thread, in all tasks and per task over 25 ms."""
    xs = sorted((e for e in events if e.get("tid") == tid and e.get("ph") == "X"), key=lambda e: (e["ts"], -e.get("dur", 0)))
    total: collections.Counter = collections.Counter()
    long: list[tuple[float, collections.Counter]] = []
    tasks = [e for e in xs if e["name"] == "RunTask"]
    i = 0
    for task in tasks:
        end = task["ts"] + task.get("dur", 0)
        while i < len(xs) and xs[i]["ts"] < task["ts"]:
            i += 1
        stack: list[dict] = []
        excl: collections.Counter = collections.Counter()
        j = i
        while j < len(xs) and xs[j]["ts"] < end:
            e = xs[j]
            j += 1
            if e is task:
                continue
            while stack and e["ts"] >= stack[-1]["ts"] + stack[-1].get("dur", 0):
                stack.pop()
            excl[e["name"]] += e.get("dur", 0)
            if stack:
                excl[stack[-1]["name"]] -= e.get("dur", 0)
            stack.append(e)
        total.update(excl)
        if task.get("dur", 0) > 25_000:
            long.append((task["dur"] / 1000, excl))
    return total, long


def js_profile(prof: dict) -> None:
    nodes = {n["id"]: n for n in prof["nodes"]}
    parent = {c: n["id"] for n in prof["nodes"] for c in n.get("children", [])}
    name = lambda n: f'{n["callFrame"]["functionName"] or "(anonymous)"} {n["callFrame"]["url"].rsplit("/", 1)[-1]}:{n["callFrame"]["lineNumber"] + 1}'  # noqa: E731
    own: collections.Counter = collections.Counter()
    incl: collections.Counter = collections.Counter()
    deltas = prof["timeDeltas"][1:] + [0]
    for sample, dt in zip(prof["samples"], deltas, strict=True):
        own[name(nodes[sample])] += dt
        seen, n = set(), sample
        while n is not None:
            key = name(nodes[n])
            if key not in seen:
                incl[key] += dt
                seen.add(key)
            n = parent.get(n)
    print(f"  JS profile of the pan: {sum(deltas) / 1000:.0f} ms sampled")
    print("  self ms:", "; ".join(f"{k} {v / 1000:.0f}" for k, v in own.most_common(20)))
    print("  inclusive ms:", "; ".join(f"{k} {v / 1000:.0f}" for k, v in incl.most_common(30)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--loads", type=int, default=2)
    parser.add_argument("--against", type=Path, default=None, help="another build's static/build/editor directory")
    parser.add_argument("--css", default="", help="a stylesheet added before the pan (what-if)")
    parser.add_argument("--js-profile", action="store_true", help="a V8 CPU profile of the pan instead of the trace")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    user, cookie, server, base = el.bench_site()
    from playwright.sync_api import sync_playwright

    from graphs import services

    graph_id = services.graph_create(owner=user, name="pan", spec=el.layered_graph(args.nodes, int(args.nodes * 1.2))).graph.pk
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=el.CHROMIUM_ARGS)
        for load in range(args.loads):
            ctx = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=bool(args.css))
            el.use_bundle(ctx, args.against)
            ctx.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
            ctx.add_init_script(el.READY_PROBE)
            page = ctx.new_page()
            page.goto(f"{base}/graphs/{graph_id}/edit/", wait_until="commit")
            page.wait_for_function("() => window.__benchReady", timeout=60_000, polling=100)
            canvas = page.locator(".kz-canvas").bounding_box()
            assert canvas, "no canvas"
            cx, cy = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
            page.mouse.move(cx, cy)
            page.mouse.wheel(0, -400)  # to ~45 %: full detail, as editor_load.py's pan
            page.wait_for_timeout(500)
            if args.css:
                page.add_style_tag(content=args.css)
                page.wait_for_timeout(300)
            px, py = page.evaluate(el.PANE_POINT) or (cx, cy)
            print(f"load {load + 1}:")
            if args.js_profile:
                cdp = ctx.new_cdp_session(page)
                cdp.send("Profiler.enable")
                cdp.send("Profiler.setSamplingInterval", {"interval": 200})
                cdp.send("Profiler.start")
                el.pan_moves(page, px, py, dy=-3)
                js_profile(cdp.send("Profiler.stop")["profile"])
                ctx.close()
                continue
            browser.start_tracing(page=page, categories=["devtools.timeline", "disabled-by-default-devtools.timeline", "blink", "cc", "v8"])
            page.evaluate(el.RAF_START)
            el.pan_moves(page, px, py, dy=-3)
            frames = page.evaluate("() => { window.__rafOn = false; return window.__frames.slice(2); }")
            events = json.loads(browser.stop_tracing())["traceEvents"]
            ctx.close()
            late = [round(f) for f in frames if f > 20]
            print(f"  frames {len(frames)}, late {len(late)} ({100 * len(late) / max(1, len(frames)):.0f} %): {late}")
            mains = {e["tid"] for e in events if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"}
            tid = max(mains, key=lambda t: sum(e.get("dur", 0) for e in events if e.get("tid") == t and e.get("name") == "RunTask"))
            total, long = exclusive_times(events, tid)
            print("  main thread, exclusive ms:", "; ".join(f"{k} {v / 1000:.0f}" for k, v in total.most_common(12)))
            for dur, excl in long:
                print(f"  task {dur:.0f} ms:", "; ".join(f"{k} {v / 1000:.1f}" for k, v in excl.most_common(6)))
            painted = collections.Counter(str(e.get("args", {}).get("data", {}).get("nodeName", "?"))[:70]
                                          for e in events if e.get("tid") == tid and e.get("name") == "Paint")
            print("  painted:", "; ".join(f"{k} x{v}" for k, v in painted.most_common(6)))
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
