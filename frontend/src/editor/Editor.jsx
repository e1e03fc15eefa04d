// The graph editor: canvas, palette, inspector, toolbar; every change goes through `change` (undoable).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Controls, MiniMap, ReactFlow, ReactFlowProvider, applyEdgeChanges, applyNodeChanges, useConnection, useReactFlow, useStore as useFlowStore } from "@xyflow/react";
import { makeApi } from "./api.js";
import { CanvasCtx, CanvasDots, ConnectionLine, LodEdges, capturePanPointer, edgeTypes, estimateGeometry, estimatedSize, movingLayer, nodeTypes } from "./canvas.jsx";
import { Icon, categoryClass } from "./icons.jsx";
import { GraphSettings, NodeInspector } from "./Inspector.jsx";
import { ConnectionsCtx, GraphWidgetCtx } from "./SchemaForm.jsx";
import { FIT_PADDING, LOD_ZOOM, OPEN_AT_START_ABOVE, VIRTUALIZE_ABOVE, autoLayout, initialViewport } from "./layout.js";
import { ConflictDialog, ExportDialog, HelpOverlay, ImportDialog, RunDialog } from "./modals.jsx";
import { ERROR_HANDLE, connectionProblem, diffSummary, edgeId, flowToSpec, freshId, initialConfig, mapIssues, portsOf, serverPorts, specToFlow } from "./model.js";
import { DND_TYPE, HistoryPanel, Palette, ProblemsPanel, usePanelPrefs } from "./panels.jsx";
import { useHistory } from "./history.js";
import { useGraphEdits } from "./edits.js";
import { useKeyboard } from "./keyboard.js";
import { Toolbar } from "./toolbar.jsx";
import { useDraftAutosave, useLeaveWarning, useLiveCheck } from "./persistence.js";
import { createStore, useStore } from "./store.js";
import { copySelection, pasteInto } from "./clipboard.js";

const EMPTY_ISSUES = { nodes: {}, edges: {}, list: [] };
/** Above this many nodes only what is in view is mounted (React Flow's onlyRenderVisibleElements). */
const NO_EDGES = [];

/** embedded: {title, onDone(doc), onCancel()}: edits config.graph.spec in memory (a node's inline subgraph),
 * with no server save, draft or history; "Done" hands the document back. */
export function Editor({ config, embedded = null }) {
  return <ReactFlowProvider><EditorInner config={config} embedded={embedded} /></ReactFlowProvider>;
}

/** The nested editor of an inline subgraph, full screen over the outer one. */
function SubgraphEditor({ config, title, doc, onDone, onCancel }) {
  const nested = useMemo(() => ({ ...config, graph: { id: null, name: title, spec: doc, version: 0 }, ports: {} }), [config, title, doc]);
  const embedded = useMemo(() => ({ title, onDone, onCancel }), [title, onDone, onCancel]);
  return (
    <div className="kz-subgraph-modal" role="dialog" aria-modal="true" aria-label={title}>
      <Editor config={nested} embedded={embedded} />
    </div>
  );
}

function useToasts() {
  const [toasts, setToasts] = useState([]);
  const seq = useRef(0);
  const toast = useCallback((text, tone = "info", ms = 4500) => {
    const id = ++seq.current;
    setToasts((t) => [...t.slice(-3), { id, text, tone }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), ms);
  }, []);
  return [toasts, toast];
}

/** A node measured for real no longer carries its estimated size and handles (estimateGeometry). */
function dropEstimates(changes, nodes) {
  const measured = new Set(changes.filter((c) => c.type === "dimensions").map((c) => c.id));
  if (!measured.size) return nodes;
  return nodes.map((n) => {
    if (!measured.has(n.id) || !n.handles) return n;
    const { handles: _h, width: _w, height: _ht, ...rest } = n;
    return rest;
  });
}

function allSamePosition(nodes) {
  const real = nodes.filter((n) => n.type !== "io");
  return real.length > 1 && real.every((n) => n.position.x === real[0].position.x && n.position.y === real[0].position.y);
}

/** The canvas's size at load: the window less the palette and the inspector (as editor.css lays them out). */
const startView = () => ({ width: window.innerWidth - 232 - 340, height: window.innerHeight - 100 });

function EditorInner({ config, embedded }) {
  const rf = useReactFlow();
  const api = useMemo(() => makeApi(config.csrf_token), [config.csrf_token]);
  const urls = config.urls;
  // The workspace's model connections and their models, for the inspector's dropdowns (a subgraph
  // editor gets its parent's list).
  const [connections, setConnections] = useState(config.connections || null);
  useEffect(() => {
    if (connections || !urls.connections) return;
    api.get(urls.connections).then(setConnections).catch(() => setConnections([]));
  }, [api, urls.connections, connections]);
  const kindList = config.kinds;
  const kinds = useMemo(() => Object.fromEntries(kindList.map((k) => [k.kind, k])), [kindList]);
  const defaults = config.kind_defaults || {};
  const initial = useMemo(() => {
    const sizeOf = (n, meta) => estimatedSize(n, kinds, meta, config.kind_defaults);
    const flow = specToFlow(config.graph.spec, sizeOf);
    const portCount = (n) => Math.max(1, ...Object.values(portsOf(n.data, kinds[n.data.kind], flow.meta, config.kind_defaults?.[n.data.kind])).map((l) => l.length));
    // a graph with no layout of its own (a template) is tidied for this canvas at once
    if (allSamePosition(flow.nodes)) flow.nodes = autoLayout(flow.nodes, flow.edges, (n) => sizeOf(n, flow.meta), startView());
    if (flow.nodes.length > VIRTUALIZE_ABOVE) {
      flow.nodes = flow.nodes.map((n) => (n.type !== "kaizen" ? n : { ...n, ...estimateGeometry(n.data,
        config.ports?.[n.id] ? serverPorts(config.ports[n.id]) : portsOf(n.data, kinds[n.data.kind], flow.meta, config.kind_defaults?.[n.data.kind]),
        config.kind_defaults?.[n.data.kind]) }));
    }
    return { ...flow, name: config.graph.name, rev: 0, viewport: initialViewport(flow.nodes, portCount, window.innerWidth - 232 - 340, window.innerHeight - 100) };
  }, [config, kinds]);
  const [graph, setGraph] = useState(initial);
  const graphRef = useRef(initial);
  const store = useMemo(() => {
    const ports = {};
    for (const n of initial.nodes) if (config.ports?.[n.id]) ports[n.id] = { config: n.data.config, ports: serverPorts(config.ports[n.id]) };
    return createStore({ meta: initial.meta, issues: EMPTY_ISSUES, statuses: {}, ports, lod: initial.viewport.zoom < LOD_ZOOM });
  }, [initial, config.ports]);
  const lod = useFlowStore((s) => s.transform[2] < LOD_ZOOM);
  useEffect(() => { store.set({ lod }); }, [lod, store]);
  const drawingError = useConnection((c) => c.inProgress && c.fromHandle?.id === ERROR_HANDLE);
  // while a connection is drawn every node's handles are React Flow's (they show the one it snaps to)
  const connecting = useConnection((c) => c.inProgress);
  useEffect(() => { store.set({ drawingError, connecting }); }, [drawingError, connecting, store]);
  const issues = useStore(store, (s) => s.issues);
  // far out on a big graph the edges are drawn by LodEdges, not React Flow (our store's `lod` is right from
  // the first render; React Flow's viewport is set only once it mounts)
  const lodEdges = useStore(store, (s) => s.lod) && graph.nodes.length > VIRTUALIZE_ABOVE;
  const [issueSource, setIssueSource] = useState(null);
  const [info, setInfo] = useState({ version: config.graph.version, savedRev: 0, published: config.graph.published_version ?? null });
  const infoRef = useRef(info);
  const savedSpec = useRef(config.graph.spec);
  const draftKey = embedded ? null : `kaizen-draft-${config.graph.id}`;
  const clearDraft = useCallback(() => { try { if (draftKey) localStorage.removeItem(draftKey); } catch { /* private mode */ } }, [draftKey]);
  const [draft, setDraft] = useState(() => {
    if (!draftKey) return null;
    try {
      const d = JSON.parse(localStorage.getItem(draftKey) || "null");
      return d && d.base_version === config.graph.version && d.spec ? d : null;
    } catch { return null; }
  });
  infoRef.current = info;
  const [toasts, toast] = useToasts();
  const [panel, setPanel] = useState(null); // "history" | null
  const [modal, setModal] = useState(null); // {type, ...}
  const [problemsOpen, setProblemsOpen] = useState(false);
  const [snap, setSnap] = useState(() => localStorage.getItem("kaizen-snap") !== "0");
  const toggleSnap = useCallback(() => setSnap((s) => { localStorage.setItem("kaizen-snap", s ? "0" : "1"); return !s; }), []);
  const [show, toggle] = usePanelPrefs(initial.nodes.length > OPEN_AT_START_ABOVE ? { minimap: false } : {});
  const [saving, setSaving] = useState(false);
  const dragging = useRef(false);
  const dropCount = useRef(0);
  const canvasRef = useRef(null);

  const update = useCallback((fn) => {
    const next = fn(graphRef.current);
    if (next === graphRef.current) return;
    graphRef.current = next;
    setGraph(next);
  }, []);
  useEffect(() => { store.set({ meta: graph.meta }); }, [graph.meta, store]);
  useEffect(() => {
    // which nodes carry error edges (bit 1: source, bit 2: fallback) so their handles stay rendered
    const wired = {};
    for (const e of graph.edges) if (e.data?.kind === "error") { wired[e.source] |= 1; wired[e.target] |= 2; }
    const prev = store.get().errorWired || {};
    if (JSON.stringify(prev) !== JSON.stringify(wired)) store.set({ errorWired: wired });
  }, [graph.edges, store]);

  const { hist, record, change, undo, redo } = useHistory(graphRef, update);

  const portsFor = useCallback((n, meta = graphRef.current.meta) => {
    const server = store.get().ports[n.id];
    if (server && server.config === n.data.config) return server.ports;
    return portsOf(n.data, kinds[n.data.kind], meta, defaults[n.data.kind]);
  }, [kinds, store, defaults]);
  const lookup = useRef({ nodes: null, map: null });
  const reconnecting = useRef(null); // the edge whose end is being dragged to another port
  const rules = useCallback(() => {
    const g = graphRef.current;
    if (lookup.current.nodes !== g.nodes) lookup.current = { nodes: g.nodes, map: new Map(g.nodes.map((n) => [n.id, n])) };
    const moving = reconnecting.current;
    return { nodeById: (id) => lookup.current.map.get(id), edges: moving ? g.edges.filter((e) => e.id !== moving) : g.edges,
      portsOf: (n) => portsFor(n, g.meta) };
  }, [portsFor]);
  const canvasCtx = useMemo(() => ({ kinds, defaults, store, rules, readOnly: false }), [kinds, defaults, store, rules]);

  // ----- canvas events
  const onNodesChange = useCallback((changes) => {
    if (changes.some((c) => c.type === "remove")) record("delete", 150);
    else if (!dragging.current && changes.some((c) => c.type === "position" && c.position)) record("nudge", 800);
    update((g) => ({ ...g, nodes: dropEstimates(changes, applyNodeChanges(changes, g.nodes)) }));
  }, [record, update]);
  const onEdgesChange = useCallback((changes) => {
    if (changes.some((c) => c.type === "remove")) record("delete", 150);
    update((g) => ({ ...g, edges: applyEdgeChanges(changes, g.edges) }));
  }, [record, update]);
  const { onMoveStart, onMoveEnd } = useMemo(() => movingLayer(store, () => canvasRef.current), [store]);
  const onDragStart = useCallback(() => { dragging.current = true; record(null); }, [record]);
  const onDragStop = useCallback(() => { setTimeout(() => { dragging.current = false; }, 0); }, []);

  const isValidConnection = useCallback((c) => !connectionProblem(c, rules()), [rules]);
  const onConnect = useCallback((c) => {
    const problem = connectionProblem(c, rules());
    if (problem) { toast(`Connection refused: ${problem}`, "error"); return; }
    const kind = c.sourceHandle === ERROR_HANDLE ? "error" : "data";
    const e = { source: c.source, sourceHandle: c.sourceHandle, target: c.target, targetHandle: c.targetHandle, type: "kaizen", data: { kind } };
    change(null, (g) => ({ ...g, edges: [...g.edges, { ...e, id: edgeId(e) }] }));
  }, [rules, change, toast]);
  const onReconnectStart = useCallback((_e, edge) => { reconnecting.current = edge.id; }, []);
  const onReconnectEnd = useCallback(() => { reconnecting.current = null; setHoverEdge(null); }, []);
  // An edge's ends can be dragged to another port where a pointer can use them: on the edge under the
  // pointer and the selected ones (as the nodes' handles, see PortHandle). React Flow draws two anchors on
  // every reconnectable edge, and on a big graph the compositor re-layers those hundreds of invisible
  // circles on every frame of a pan (bench/pan_trace.py: two thirds of a pan's layerizing at 2,000 nodes).
  const [hoverEdge, setHoverEdge] = useState(null);
  const onEdgeMouseEnter = useCallback((_e, edge) => setHoverEdge(edge.id), []);
  const onEdgeMouseLeave = useCallback(() => { if (!reconnecting.current) setHoverEdge(null); }, []);
  const flowEdges = useMemo(() => (hoverEdge === null && !graph.edges.some((e) => e.selected) ? graph.edges
    : graph.edges.map((e) => (e.selected || e.id === hoverEdge ? { ...e, reconnectable: true } : e))), [graph.edges, hoverEdge]);
  const onReconnect = useCallback((old, c) => {
    const problem = connectionProblem(c, rules());
    reconnecting.current = null;
    if (problem) { toast(`Connection refused: ${problem}`, "error"); return; }
    const kind = c.sourceHandle === ERROR_HANDLE ? "error" : "data";
    const e = { source: c.source, sourceHandle: c.sourceHandle, target: c.target, targetHandle: c.targetHandle, type: "kaizen", data: { kind } };
    change(null, (g) => ({ ...g, edges: g.edges.map((x) => (x.id === old.id ? { ...e, id: edgeId(e) } : x)) }));
  }, [rules, change, toast]);
  const onConnectEnd = useCallback((_event, state) => {
    if (!state?.toHandle || state.isValid || !state.fromHandle) return;
    const forward = state.fromHandle.type === "source";
    const [s, t] = forward ? [state.fromHandle, state.toHandle] : [state.toHandle, state.fromHandle];
    const problem = state.fromHandle.type === state.toHandle.type ? "connect an output to an input"
      : connectionProblem({ source: s.nodeId, sourceHandle: s.id, target: t.nodeId, targetHandle: t.id }, rules());
    if (problem) toast(`Connection refused: ${problem}`, "error");
  }, [rules, toast]);

  const addNode = useCallback((kindName, position) => {
    const kind = kinds[kindName];
    if (!kind) return;
    const g0 = graphRef.current;
    const id = freshId(kindName, new Set(g0.nodes.map((n) => n.id)));
    let pos = position;
    if (!pos) {
      const el = canvasRef.current;
      const r = el.getBoundingClientRect();
      const k = dropCount.current++ % 6;
      pos = rf.screenToFlowPosition({ x: r.left + r.width / 2 - 110 + k * 24, y: r.top + r.height / 2 - 40 + k * 24 });
    }
    if (snap) pos = { x: Math.round(pos.x / 20) * 20, y: Math.round(pos.y / 20) * 20 };
    const node = { id, type: "kaizen", position: pos, selected: true, data: { kind: kindName, label: "", config: initialConfig(kind, defaults[kindName]) } };
    change(null, (g) => ({ ...g, nodes: [...g.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node],
      edges: g.edges.map((e) => (e.selected ? { ...e, selected: false } : e)) }));
  }, [kinds, defaults, change, rf, snap]);

  const onDragOver = useCallback((e) => {
    if (e.dataTransfer.types.includes(DND_TYPE)) { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }
  }, []);
  const onDrop = useCallback((e) => {
    const kind = e.dataTransfer.getData(DND_TYPE);
    if (!kind) return;
    e.preventDefault();
    addNode(kind, rf.screenToFlowPosition({ x: e.clientX - 20, y: e.clientY - 20 }));
  }, [addNode, rf]);

  // ----- node and graph edits from the inspector (edits.js)
  const { setConfig, setLabel, renameNode, deleteSelection, setFields, setName, setDescription } = useGraphEdits(change, graphRef, portsFor, toast);

  // ----- whole-graph operations
  const sizeOf = useCallback((n) => estimatedSize(n, kinds, graphRef.current.meta, defaults, n.type === "kaizen" ? portsFor(n) : null), [kinds, defaults, portsFor]);
  const canvasView = useCallback(() => {
    const r = canvasRef.current?.getBoundingClientRect();
    return r && r.width > 0 ? { width: r.width, height: r.height } : startView();
  }, []);
  // "Tidy": dagre, left to right or top to bottom, whichever Fit shows larger on this canvas
  const layout = useCallback(() => {
    change(null, (g) => ({ ...g, nodes: autoLayout(g.nodes, g.edges, sizeOf, canvasView()) }));
    setTimeout(() => rf.fitView({ duration: 250, padding: FIT_PADDING, ...(embedded ? { maxZoom: 1 } : {}) }), 30);
  }, [change, sizeOf, canvasView, rf, embedded]);
  const selectAll = useCallback(() => update((g) => ({ ...g, nodes: g.nodes.map((n) => (n.selected ? n : { ...n, selected: true })) })), [update]);
  const clearSelection = useCallback(() => update((g) => ({ ...g,
    nodes: g.nodes.some((n) => n.selected) ? g.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)) : g.nodes,
    edges: g.edges.some((e) => e.selected) ? g.edges.map((e) => (e.selected ? { ...e, selected: false } : e)) : g.edges })), [update]);

  const setIssues = useCallback((next, source) => { store.set({ issues: next }); setIssueSource(source); }, [store]);
  const loadSpec = useCallback((spec, { clean = false, version, name } = {}) => {
    record(null);
    const sizeOf = (n, meta) => estimatedSize(n, kinds, meta, defaults);
    const flow = specToFlow(spec, sizeOf);
    if (allSamePosition(flow.nodes)) flow.nodes = autoLayout(flow.nodes, flow.edges, (n) => sizeOf(n, flow.meta), canvasView());
    update((g) => ({ ...g, ...flow, name: name ?? g.name }));
    if (clean) {
      savedSpec.current = spec;
      clearDraft();
      setInfo((i) => ({ ...i, version: version ?? i.version, savedRev: graphRef.current.rev }));
    }
    setTimeout(() => rf.fitView({ padding: FIT_PADDING }), 50);
  }, [record, update, kinds, defaults, rf, clearDraft, canvasView]);

  const save = useCallback(async ({ base } = {}) => {
    if (embedded) return false; // a subgraph is saved with its outer graph
    if (saving) return false;
    const g = graphRef.current;
    const { spec, edgeIds } = flowToSpec(g);
    setSaving(true);
    try {
      // the version message says what changed, so the history panel reads like a log
      const message = diffSummary(savedSpec.current, spec).filter((l) => l !== "no differences").join("; ").slice(0, 300);
      const res = await api.put(urls.graph, { spec, base_version: base ?? infoRef.current.version, name: g.name, description: g.meta.description || "", message });
      savedSpec.current = spec;
      clearDraft();
      setInfo((i) => ({ ...i, version: res.version, savedRev: g.rev }));
      hist.current.key = null;
      setIssues(EMPTY_ISSUES, null);
      setModal(null);
      toast(`Saved as version ${res.version}`, "ok", 2500);
      return true;
    } catch (e) {
      if (e.status === 400 && e.body.errors?.length) {
        const mapped = mapIssues(e.body.errors, edgeIds, g.nodes, g.edges);
        setIssues(mapped, "save refused");
        setProblemsOpen(true);
        toast(`Not saved: ${mapped.list.length} problem${mapped.list.length > 1 ? "s" : ""} marked in red. Nothing is lost; the server keeps version ${infoRef.current.version}.`, "error", 7000);
      } else if (e.status === 409) {
        let latest = null, by = null;
        try {
          latest = await api.get(urls.graph);
          by = (await api.get(urls.versions)).find((v) => v.number === latest.version)?.created_by || null;
        } catch { /* shown without the number */ }
        setModal({ type: "conflict", base: infoRef.current.version, latest: latest?.version, by });
      } else {
        toast(`Save failed: ${e.message}. Your changes are still here.`, "error", 7000);
      }
      return false;
    } finally {
      setSaving(false);
    }
  }, [api, urls.graph, saving, setIssues, toast, clearDraft, embedded]);

  useLiveCheck(graph.rev, graphRef, api, urls.check, store, setIssues);
  useDraftAutosave(draftKey, graph.rev, info.savedRev, graphRef, infoRef);

  const dirty = graph.rev !== info.savedRev;
  useLeaveWarning(!embedded, graphRef, infoRef);
  useEffect(() => { if (!embedded) document.title = `${dirty ? "● " : ""}${graph.name} · Editor · Kaizen Web`; }, [dirty, graph.name, embedded]);

  const copy = useCallback(() => {
    const n = copySelection(graphRef.current)?.nodes.length;
    if (n) toast(`Copied ${n} node${n > 1 ? "s" : ""}`, "info", 1500);
  }, [toast]);
  const paste = useCallback((payload) => {
    if (!payload) return;
    change(null, (g) => pasteInto(g, payload));
  }, [change]);
  const duplicate = useCallback(() => {
    const payload = copySelection(graphRef.current, { store: false });
    if (payload) paste(payload);
  }, [paste]);

  const restore = useCallback(async (number) => {
    try {
      const res = await api.post(`${urls.versions}${number}/restore/`);
      loadSpec(res.spec, { clean: true, version: res.version, name: res.name });
      setIssues(EMPTY_ISSUES, null);
      toast(`Restored version ${number} as version ${res.version}`, "ok");
    } catch (e) { toast(`Restore failed: ${e.message}`, "error"); }
  }, [api, urls.versions, loadSpec, setIssues, toast]);

  // Publish: triggers and schedules run the published version; saving a draft never changes it.
  const publish = useCallback(async (number) => {
    try {
      const res = await api.post(`${urls.versions}${number}/publish/`);
      setInfo((i) => ({ ...i, published: res.published_version }));
      toast(`Published version ${number}: triggers and schedules run it now`, "ok");
    } catch (e) { toast(`Publish failed: ${e.message}`, "error"); }
  }, [api, urls.versions, toast]);

  const focusIssue = useCallback((i) => {
    const id = i.node || (i.edge && graphRef.current.edges.find((e) => e.id === i.edge)?.target);
    if (!id) return;
    update((g) => ({ ...g, nodes: g.nodes.map((n) => (n.id === id ? { ...n, selected: true } : n.selected ? { ...n, selected: false } : n)) }));
    rf.fitView({ nodes: [{ id }], duration: 300, maxZoom: 1.2 });
  }, [update, rf]);

  // ----- keyboard
  const actions = useRef({});
  actions.current = { save, undo, redo, copy, duplicate, selectAll, clearSelection, layout, paste, modal, toggleSnap,
    help: () => setModal({ type: "help" }) };
  useKeyboard(actions, rf);

  // ----- derived
  const selectedNodes = graph.nodes.filter((n) => n.selected);
  const selectedKey = selectedNodes.map((n) => n.id).join("\n");
  useEffect(() => { store.set({ selectedNodes: new Set(selectedKey ? selectedKey.split("\n") : []) }); }, [selectedKey, store]);
  const sel = selectedNodes.length === 1 && selectedNodes[0].type === "kaizen" ? selectedNodes[0] : null;
  const exportJson = () => JSON.stringify(flowToSpec(graphRef.current).spec, null, 2);
  const run = async (inputs, dryRun) => {
    if (graphRef.current.rev !== infoRef.current.savedRev && !(await save())) throw new Error("the graph was not saved; fix the problems first");
    const res = await api.post(urls.runs, { inputs, dry_run: dryRun });
    window.location.assign(res.url);
  };
  const h = hist.current;
  // "Edit subgraph" (x-kaizen-widget: graph fields): a nested editor; Done is one undoable config change here
  const openSubgraph = useCallback((title, doc, onChange) => {
    setModal({ type: "subgraph", title, doc, onChange });
  }, []);
  const closeSubgraph = useCallback(() => setModal(null), []);
  const subgraphDone = useCallback((doc) => {
    const target = modal?.type === "subgraph" ? modal.onChange : null;
    setModal(null);
    if (!target) return;
    hist.current.key = null; // never merged into an earlier edit of the same node
    target(doc);
    hist.current.key = null;
  }, [modal]);
  const done = () => embedded.onDone(flowToSpec(graphRef.current).spec);
  const minimapClass = useCallback((n) => (n.type === "io" ? "mm-io" : `mm-node ${categoryClass(kinds[n.data.kind]?.category)}`), [kinds]);

  return (
    <CanvasCtx.Provider value={canvasCtx}>
      <div className={`kz-editor ${panel ? "with-panel" : ""} ${show.palette ? "" : "no-palette"} ${show.side ? "" : "no-side"}`}>
        <Toolbar embedded={embedded} urls={urls} name={graph.name} version={info.version} dirty={dirty} saving={saving}
          canUndo={h.undo.length > 0} canRedo={h.redo.length > 0} undo={undo} redo={redo} layout={layout}
          fit={() => rf.fitView({ duration: 250, padding: FIT_PADDING })} snap={snap} toggleSnap={toggleSnap} show={show} toggle={toggle}
          panel={panel} setPanel={setPanel} setModal={setModal} exportJson={exportJson} save={save} done={done} />
        <Palette kinds={kindList} onAdd={(k) => addNode(k)} />
        <div className="kz-canvas" ref={canvasRef} onDragOver={onDragOver} onDrop={onDrop} onPointerDown={capturePanPointer}>
          <ReactFlow nodes={graph.nodes} edges={lodEdges ? NO_EDGES : flowEdges} nodeTypes={nodeTypes} edgeTypes={edgeTypes}
            onNodesChange={onNodesChange} onEdgesChange={onEdgesChange} onConnect={onConnect} onConnectEnd={onConnectEnd}
            onReconnect={onReconnect} onReconnectStart={onReconnectStart} onReconnectEnd={onReconnectEnd} edgesReconnectable={false}
            onEdgeMouseEnter={onEdgeMouseEnter} onEdgeMouseLeave={onEdgeMouseLeave}
            isValidConnection={isValidConnection} connectionLineComponent={ConnectionLine} connectionRadius={22}
            onNodeDragStart={onDragStart} onNodeDragStop={onDragStop} onSelectionDragStart={onDragStart} onSelectionDragStop={onDragStop}
            snapToGrid={snap} snapGrid={[20, 20]} defaultViewport={initial.viewport} fitView={initial.nodes.length <= OPEN_AT_START_ABOVE} fitViewOptions={{ padding: FIT_PADDING, maxZoom: 1 }} minZoom={0.05} maxZoom={2}
            deleteKeyCode={modal?.type === "subgraph" ? null : ["Delete", "Backspace"]} multiSelectionKeyCode={["Control", "Meta"]} selectionKeyCode="Shift"
            elevateNodesOnSelect={false} onMoveStart={onMoveStart} onMoveEnd={onMoveEnd} onlyRenderVisibleElements={graph.nodes.length > VIRTUALIZE_ABOVE}>
            <CanvasDots store={store} />
            {lodEdges && <LodEdges edges={graph.edges} issues={issues.edges} />}
            <Controls showInteractive={false} />
            {show.minimap && <MiniMap pannable zoomable nodeClassName={minimapClass} />}
          </ReactFlow>
          <ProblemsPanel issues={issues} open={problemsOpen} setOpen={setProblemsOpen} onFocus={focusIssue} source={issueSource} />
          {graph.nodes.length <= 2 && (
            <div className="kz-empty-hint"><Icon name="sparkles" size={18} /> Drag a node kind from the palette, then connect an output (right) to an input (left).</div>
          )}
        </div>
        <aside className="kz-side">
          {panel === "history" ? (
            <HistoryPanel api={api} urls={urls} current={info.version} currentSpec={() => flowToSpec(graphRef.current).spec}
              published={info.published} onPublish={publish} onRestore={restore} onClose={() => setPanel(null)} />
          ) : sel ? (
            <GraphWidgetCtx.Provider value={openSubgraph}><ConnectionsCtx.Provider value={connections}>
            <NodeInspector key={sel.id} node={sel} kind={kinds[sel.data.kind]} defaults={defaults[sel.data.kind]} issues={issues.nodes[sel.id]}
              onConfig={(c) => setConfig(sel.id, c)} onLabel={(l) => setLabel(sel.id, l)} onRename={(to) => renameNode(sel.id, to)} onDelete={deleteSelection} />
            </ConnectionsCtx.Provider></GraphWidgetCtx.Provider>
          ) : (
            <GraphSettings embedded={Boolean(embedded)} name={graph.name} description={graph.meta.description} meta={graph.meta} issues={issues} version={info.version}
              onName={setName} onDescription={setDescription} onFields={setFields} />
          )}
        </aside>
        {draft && (
          <div className="kz-draft-banner" role="alert">
            Unsaved changes from {new Date(draft.saved_at).toLocaleString()} were kept in this browser.
            <button type="button" className="btn btn-sm btn-primary" onClick={() => { loadSpec(draft.spec, { name: draft.name }); setDraft(null); }}>Restore them</button>
            <button type="button" className="btn btn-sm" onClick={() => { clearDraft(); setDraft(null); }}>Discard</button>
          </div>
        )}
        <div className="kz-toasts" role="status" aria-live="polite">
          {toasts.map((t) => <div key={t.id} className={`kz-toast ${t.tone}`}>{t.text}</div>)}
        </div>
        {modal?.type === "subgraph" && (
          <SubgraphEditor config={config} title={`${modal.title} of ${sel?.data.label || sel?.id || "node"}`} doc={modal.doc}
            onDone={subgraphDone} onCancel={closeSubgraph} />
        )}
        {modal?.type === "help" && <HelpOverlay onClose={() => setModal(null)} />}
        {modal?.type === "export" && <ExportDialog json={modal.json} filename={`${(graph.name || "graph").replace(/[^A-Za-z0-9_-]+/g, "-")}.kaizen.json`} onClose={() => setModal(null)} />}
        {modal?.type === "import" && (
          <ImportDialog validate={(spec) => api.post(urls.validate, { spec })} onClose={() => setModal(null)}
            onLoad={(doc, errors) => {
              loadSpec(doc);
              setModal(null);
              const { edgeIds } = flowToSpec(graphRef.current);
              setIssues(mapIssues(errors, edgeIds, graphRef.current.nodes, graphRef.current.edges), "imported");
              toast(errors.length ? `Imported with ${errors.length} problem${errors.length > 1 ? "s" : ""}` : "Imported: the document is valid. Save to keep it.", errors.length ? "error" : "ok");
            }} />
        )}
        {modal?.type === "run" && <RunDialog inputs={graph.meta.inputs} dirty={dirty} onRun={run} onClose={() => setModal(null)} />}
        {modal?.type === "conflict" && (
          <ConflictDialog info={modal} onClose={() => setModal(null)}
            onExport={() => setModal({ type: "export", json: exportJson() })}
            onOverwrite={() => save({ base: modal.latest })}
            onReloadTheirs={async () => {
              const latest = await api.get(urls.graph);
              loadSpec(latest.spec, { clean: true, version: latest.version, name: latest.name });
              setModal(null);
              toast(`Loaded version ${latest.version}`, "ok");
            }} />
        )}
      </div>
    </CanvasCtx.Provider>
  );
}
