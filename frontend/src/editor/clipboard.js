// Copy/paste of node selections as plain JSON: the system clipboard when allowed, localStorage always
// (so pasting works across tabs and graphs of the same site).
import { edgeId, pasteId, toFlowEdge } from "./model.js";

const KEY = "kaizen-clipboard";

/** The selected nodes and the edges among them, as document fragments; stored unless store=false. */
export function copySelection(g, { store = true } = {}) {
  const nodes = g.nodes.filter((n) => n.selected && n.type === "kaizen");
  if (!nodes.length) return null;
  const ids = new Set(nodes.map((n) => n.id));
  const payload = {
    kaizen_clipboard: 1,
    nodes: nodes.map((n) => ({ id: n.id, kind: n.data.kind, label: n.data.label || "", config: n.data.config, position: n.position })),
    edges: g.edges.filter((e) => ids.has(e.source) && ids.has(e.target)).map((e) => ({
      source: e.source, source_port: e.data?.kind === "error" ? "" : e.sourceHandle,
      target: e.target, target_port: e.data?.kind === "error" ? "" : e.targetHandle, kind: e.data?.kind || "data" })),
  };
  if (store) {
    const text = JSON.stringify(payload);
    try { localStorage.setItem(KEY, text); } catch { /* storage full: the system clipboard may still work */ }
    navigator.clipboard?.writeText(text).catch(() => {});
  }
  return payload;
}

/** A clipboard payload from text: our own fragment, or a whole graph document. */
export function readClipboard(text) {
  if (!text) return null;
  try {
    const data = JSON.parse(text);
    if (data && Array.isArray(data.nodes) && (data.kaizen_clipboard || data.schema_version)) return data;
  } catch { /* not ours */ }
  return null;
}

let pasteSeq = 0;

/** The graph with the payload's nodes added (fresh ids when taken, offset, selected). */
export function pasteInto(g, payload) {
  const taken = new Set(g.nodes.map((n) => n.id));
  const rename = new Map();
  const offset = 40 * (1 + (pasteSeq++ % 8));
  const added = [];
  for (const n of payload.nodes) {
    if (!n || typeof n.id !== "string" || typeof n.kind !== "string") continue;
    const id = pasteId(n.id, taken);
    taken.add(id);
    rename.set(n.id, id);
    added.push({ id, type: "kaizen", selected: true, position: { x: (n.position?.x ?? 0) + offset, y: (n.position?.y ?? 0) + offset },
      data: { kind: n.kind, label: n.label || "", config: n.config || {} } });
  }
  const edges = [];
  const have = new Set(g.edges.map((e) => e.id));
  for (const e of payload.edges || []) {
    if (!rename.has(e.source) || !rename.has(e.target)) continue;
    const fe = toFlowEdge({ ...e, source: rename.get(e.source), target: rename.get(e.target) });
    if (!have.has(fe.id)) { have.add(fe.id); edges.push({ ...fe, id: edgeId(fe) }); }
  }
  if (!added.length) return g;
  return {
    ...g,
    nodes: [...g.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), ...added],
    edges: [...g.edges.map((e) => (e.selected ? { ...e, selected: false } : e)), ...edges],
  };
}
