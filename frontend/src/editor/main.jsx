// Entry: mounts the editor (or the read-only viewer) from the page's json_script config, and exposes
// window.KaizenCanvas for other pages (the run page's live overlay).
import "@xyflow/react/dist/style.css";
import "./editor.css";
import { createRoot } from "react-dom/client";
import { Editor } from "./Editor.jsx";
import { serverPorts } from "./model.js";
import { createStore } from "./store.js";
import { Viewer } from "./Viewer.jsx";

/**
 * Mount a read-only canvas. options: {spec, kinds, ports?, defaults?, statuses?: {nodeId: status}, onNodeClick?: (id) => void};
 * `defaults` is {kind: default config} (graphs.views.editor.kind_defaults), for config-derived ports;
 * `ports` is {nodeId: {inputs, outputs}} as computed by graphs.views.editor.check_spec (exact ports for
 * kinds whose ports follow their config, e.g. a router's specialists).
 * Returns {setStatuses(map), setActiveEdges(map of edge id -> bool), setMembers(map), setExpanded(map), unmount()}; statuses
 * use the run vocabulary (pending, running, succeeded, failed, skipped, retrying ...) and style nodes via
 * .run-<status>. setMembers({nodeId: {member: state}}) lights a consensus voter (member = its name) or a
 * fallback level (member = "1", "2" ...) or a plan-execute-verify phase (plan, execute, verify) with state
 * running | succeeded | failed. Statuses of nested nodes (<node>/<key>/<child>) light the nodes of
 * <node>'s subgraph once it is expanded (its "+" button, or setExpanded({nodeId: true})).
 */
// A nested node's state over all its instances: any running, else any failed ... else succeeded.
const RANK = ["running", "retrying", "failed", "cancelled", "interrupted", "pending", "skipped", "succeeded"];

/** The run states of nested nodes (<node>/<key>/<child>: a for-each item's, a budget guard's body),
 * folded per `<node>::<child>`, the ids of the expanded subgraph's nodes: {status, count, last}. */
export function nestedSummary(statuses, last) {
  const groups = {};
  for (const [id, status] of Object.entries(statuses)) {
    const parts = id.split("/");
    if (parts.length !== 3 || !status) continue;
    (groups[`${parts[0]}::${parts[2]}`] ||= []).push([parts[1], status]);
  }
  const out = {};
  for (const [key, list] of Object.entries(groups)) {
    const n = {};
    for (const [, status] of list) n[status] = (n[status] || 0) + 1;
    const items = list.length > 1 || /^\d+$/.test(list[0][0]);
    const count = items ? [`${list.length} item${list.length > 1 ? "s" : ""}`, ...RANK.filter((r) => n[r]).map((r) => `${n[r]} ${r}`)].join(" · ") : "";
    out[key] = { status: RANK.find((r) => n[r]) || list[0][1], count, last: last[key] };
  }
  return out;
}

export function mountViewer(el, { spec, kinds, ports, defaults, statuses = {}, onNodeClick } = {}) {
  const exact = Object.fromEntries((spec.nodes || []).filter((n) => ports?.[n.id] && n.config)
    .map((n) => [n.id, { config: n.config, ports: serverPorts(ports[n.id]) }]));
  const last = {}; // <node>::<child> -> the instance that changed last (a click on the nested node opens it)
  const noteLast = (map) => {
    for (const id of Object.keys(map)) {
      const parts = id.split("/");
      if (parts.length === 3) last[`${parts[0]}::${parts[2]}`] = id;
    }
  };
  noteLast(statuses);
  const store = createStore({ ports: exact, meta: { inputs: spec.inputs || {}, outputs: spec.outputs || {} }, issues: { nodes: {}, edges: {}, list: [] },
    statuses, nested: nestedSummary(statuses, last), activeEdges: {}, expanded: {} });
  const root = createRoot(el);
  const { width, height } = el.getBoundingClientRect();
  root.render(<Viewer spec={spec} kinds={kinds} defaults={defaults} store={store} onNodeClick={onNodeClick} width={width || 900} height={height || 600} />);
  return {
    setStatuses: (map) => store.set((s) => {
      noteLast(map);
      const all = { ...s.statuses, ...map };
      return Object.keys(map).some((id) => id.includes("/")) ? { statuses: all, nested: nestedSummary(all, last) } : { statuses: all };
    }),
    setExpanded: (map) => store.set((s) => ({ expanded: { ...s.expanded, ...map } })),
    setActiveEdges: (map) => store.set({ activeEdges: map }),
    setMembers: (map) => store.set((s) => ({ members: { ...s.members, ...map } })),
    unmount: () => root.unmount(),
  };
}

export function mountEditor(el, config) {
  const root = createRoot(el);
  root.render(<Editor config={config} />);
  return { unmount: () => root.unmount() };
}

window.KaizenCanvas = { mountViewer, mountEditor };

const cfgEl = document.getElementById("editor-config");
const rootEl = document.getElementById("editor-root");
if (cfgEl && rootEl) {
  const config = JSON.parse(cfgEl.textContent);
  if (config.mode === "viewer") window.kaizenViewer = mountViewer(rootEl, config);
  else mountEditor(rootEl, config);
}
