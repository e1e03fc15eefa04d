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
 * Returns {setStatuses(map), setActiveEdges(map of edge id -> bool), setMembers(map), unmount()}; statuses
 * use the run vocabulary (pending, running, succeeded, failed, skipped, retrying ...) and style nodes via
 * .run-<status>. setMembers({nodeId: {member: state}}) lights a consensus voter (member = its name) or a
 * fallback level (member = "1", "2" ...) with state running | succeeded | failed.
 */
export function mountViewer(el, { spec, kinds, ports, defaults, statuses = {}, onNodeClick } = {}) {
  const exact = Object.fromEntries((spec.nodes || []).filter((n) => ports?.[n.id] && n.config)
    .map((n) => [n.id, { config: n.config, ports: serverPorts(ports[n.id]) }]));
  const store = createStore({ ports: exact, meta: { inputs: spec.inputs || {}, outputs: spec.outputs || {} }, issues: { nodes: {}, edges: {}, list: [] }, statuses, activeEdges: {} });
  const root = createRoot(el);
  const { width, height } = el.getBoundingClientRect();
  root.render(<Viewer spec={spec} kinds={kinds} defaults={defaults} store={store} onNodeClick={onNodeClick} width={width || 900} height={height || 600} />);
  return {
    setStatuses: (map) => store.set((s) => ({ statuses: { ...s.statuses, ...map } })),
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
