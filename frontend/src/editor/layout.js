// Auto-layout with dagre, left to right. Sizes come from the measured DOM when known.
import dagre from "@dagrejs/dagre";

function dagreLayout(nodes, edges, size, rankdir) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir, nodesep: rankdir === "LR" ? 36 : 28, ranksep: rankdir === "LR" ? 90 : 60, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: size.get(n.id).w, height: size.get(n.id).h });
  for (const e of edges) if (size.has(e.source) && size.has(e.target) && e.source !== e.target) g.setEdge(e.source, e.target);
  dagre.layout(g);
  const { width, height } = g.graph();
  return { width, height, at: (id) => { const p = g.node(id), s = size.get(id); return { x: Math.round(p.x - s.w / 2), y: Math.round(p.y - s.h / 2) }; } };
}

/** Lays the graph out with dagre. `sizeOf(n)` gives a node's {width, height} (measured, else estimated;
 * the old form, a port count, still works). With `view` ({width, height} of the canvas), left-to-right
 * and top-to-bottom are both tried and the one that Fit shows larger wins: a wide fan-out (five
 * parallel branches) reads better stacked than as a strip at a third of its size. */
export function autoLayout(nodes, edges, sizeOf, view = null) {
  const size = new Map();
  for (const n of nodes) {
    const s = sizeOf(n);
    const est = typeof s === "number" ? { width: 240, height: 56 + 26 * s } : s || {};
    size.set(n.id, { w: n.measured?.width || est.width || 240, h: n.measured?.height || est.height || 80 });
  }
  let best = dagreLayout(nodes, edges, size, "LR");
  if (view?.width > 0 && view?.height > 0) {
    const fit = (l) => Math.min(view.width / l.width, view.height / l.height);
    const tb = dagreLayout(nodes, edges, size, "TB");
    if (fit(tb) > fit(best) * 1.1) best = tb;
  }
  return nodes.map((n) => ({ ...n, position: best.at(n.id) }));
}

/** Below this zoom, nodes render without port labels (low detail). */
export const LOD_ZOOM = 0.33;
// above this many nodes a canvas draws only what is in view, and far out (LOD_ZOOM) its edges as shared strokes
export const VIRTUALIZE_ABOVE = 150;

/** The viewport that fits the graph, estimated before anything is measured, so the first render is at
 * the final zoom (far-out graphs render in low detail at once instead of twice). */
export function estimateViewport(nodes, portCount, width, height) {
  if (!nodes.length) return { x: 0, y: 0, zoom: 1 };
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const n of nodes) {
    x0 = Math.min(x0, n.position.x); y0 = Math.min(y0, n.position.y);
    x1 = Math.max(x1, n.position.x + 240); y1 = Math.max(y1, n.position.y + 70 + 24 * portCount(n));
  }
  const w = Math.max(300, width), h = Math.max(300, height);
  const zoom = Math.min(1, Math.max(0.05, Math.min(w / (x1 - x0), h / (y1 - y0)) / 1.3));
  return { x: (w - (x1 - x0) * zoom) / 2 - x0 * zoom, y: (h - (y1 - y0) * zoom) / 2 - y0 * zoom, zoom };
}


/** Above this many nodes the editor opens at the graph's start instead of fitting it all: fitted, a
 * graph of 2,000 nodes is specks at 5 % zoom, and every speck costs a mounted node. Fit (F) and the
 * minimap still show the whole graph. */
export const OPEN_AT_START_ABOVE = 300;
const START_ZOOM = 0.25;

/** The first viewport: `estimateViewport` for ordinary graphs; for big ones, the left edge of the graph
 * (where its inputs are) at a zoom where nodes can be told apart, vertically centred. */
export function initialViewport(nodes, portCount, width, height) {
  const fit = estimateViewport(nodes, portCount, width, height);
  if (nodes.length <= OPEN_AT_START_ABOVE || fit.zoom >= START_ZOOM) return fit;
  let x0 = Infinity, y0 = Infinity, y1 = -Infinity;
  for (const n of nodes) {
    x0 = Math.min(x0, n.position.x); y0 = Math.min(y0, n.position.y);
    y1 = Math.max(y1, n.position.y + 70 + 24 * portCount(n));
  }
  const zoom = START_ZOOM, h = Math.max(300, height);
  const y = (y1 - y0) * zoom < h ? (h - (y1 - y0) * zoom) / 2 - y0 * zoom : 40 - y0 * zoom;
  return { x: 40 - x0 * zoom, y, zoom };
}

/** Fit's margin (a fraction of the graph's size): small, so a fitted graph is drawn as large as it can be. */
export const FIT_PADDING = 0.06;
