// Auto-layout with dagre, left to right. Sizes come from the measured DOM when known.
import dagre from "@dagrejs/dagre";

export function autoLayout(nodes, edges, portCount) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 36, ranksep: 90, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const size = new Map();
  for (const n of nodes) {
    const w = n.measured?.width || 240;
    const h = n.measured?.height || 56 + 26 * portCount(n);
    size.set(n.id, { w, h });
    g.setNode(n.id, { width: w, height: h });
  }
  for (const e of edges) if (size.has(e.source) && size.has(e.target)) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return nodes.map((n) => {
    const p = g.node(n.id), s = size.get(n.id);
    return { ...n, position: { x: Math.round(p.x - s.w / 2), y: Math.round(p.y - s.h / 2) } };
  });
}
