// Read-only canvas for the graph and run pages: the editor's nodes and edges, with per-node run status
// pushed in live, and nodes holding an inline subgraph (for-each, budget) expandable into their nested
// nodes, drawn in a frame under the node.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Controls, MiniMap, ReactFlow, ReactFlowProvider, applyNodeChanges, useReactFlow, useStore as useFlowStore } from "@xyflow/react";
import { LOD_ZOOM, VIRTUALIZE_ABOVE, autoLayout, estimateViewport } from "./layout.js";
import { CanvasCtx, CanvasDots, LodEdges, capturePanPointer, edgeTypes, estimateGeometry, estimatedSize, graphFields, movingLayer, nodeTypes } from "./canvas.jsx";
import { categoryClass } from "./icons.jsx";
import { portsOf, specToFlow } from "./model.js";
import { useStore } from "./store.js";

function LodSync({ store }) {
  const lod = useFlowStore((s) => s.transform[2] < LOD_ZOOM);
  useEffect(() => { store.set({ lod }); }, [lod, store]);
  return null;
}

const GAP = 28, PAD = 20, HEAD = 30;

export function allSamePosition(nodes) {
  const real = nodes.filter((n) => n.type !== "io");
  return real.length > 1 && real.every((n) => n.position.x === real[0].position.x && n.position.y === real[0].position.y);
}

/** Whether two nodes, at their drawn sizes (`sizeOf`), cover each other: stored positions made for
 * narrower nodes, or written by hand through the API. (Graphs of a few hundred nodes at most: above,
 * the positions are taken as they are.) */
export function overlapping(nodes, sizeOf, limit = 300) {
  if (nodes.length > limit) return false;
  const boxes = nodes.map((n) => { const s = sizeOf(n); return [n.position.x, n.position.y, n.position.x + s.width, n.position.y + s.height]; })
    .sort((a, b) => a[0] - b[0]);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length && boxes[j][0] < boxes[i][2]; j++) {
      if (boxes[j][1] < boxes[i][3] && boxes[i][1] < boxes[j][3]) return true;
    }
  }
  return false;
}

/** The nodes and edges of `node`'s inline subgraph, laid out inside a frame; ids are `<node>::<child>`
 * and each nested node's status key (data.nested) names it among every instance's (mountViewer). */
function nestedFlow(node, kind, kinds, defaults) {
  const config = { ...defaults[node.data.kind], ...node.data.config };
  const field = graphFields(kind).find((f) => config[f]?.nodes);
  if (!field) return null;
  const sub = specToFlow(config[field]);
  const meta = sub.meta;
  const laid = autoLayout(sub.nodes, sub.edges, (n) => estimatedSize(n, kinds, meta, defaults));
  const sizes = new Map(laid.map((n) => [n.id, estimatedSize(n, kinds, meta, defaults)]));
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const n of laid) {
    const s = sizes.get(n.id);
    x0 = Math.min(x0, n.position.x); y0 = Math.min(y0, n.position.y);
    x1 = Math.max(x1, n.position.x + s.width); y1 = Math.max(y1, n.position.y + s.height);
  }
  const groupId = `${node.id}::`;
  const title = `${kind?.config_schema?.properties?.[field]?.title || field} of ${node.data.label || node.id}${node.data.kind === "for_each" ? ", run per item" : ""}`;
  const group = { id: groupId, type: "kzgroup", selectable: false, draggable: false, position: { x: 0, y: 0 },
    data: { of: node.id, title, width: x1 - x0 + 2 * PAD, height: y1 - y0 + HEAD + PAD } };
  const children = laid.map((n) => ({
    ...n, id: `${node.id}::${n.id}`, parentId: groupId, draggable: false,
    position: { x: n.position.x - x0 + PAD, y: n.position.y - y0 + HEAD },
    data: n.type === "io" ? { ...n.data, meta } : { ...n.data, label: n.data.label || n.id, nested: `${node.id}::${n.id}` },
  }));
  const edges = sub.edges.map((e) => ({ ...e, id: `${node.id}::${e.id}`, source: `${node.id}::${e.source}`, target: `${node.id}::${e.target}`,
    selectable: false, focusable: false }));
  return { group, children, edges };
}

/** `base` with each expanded node's frame under it; the nodes to its right move right and those
 * below it move down, so nothing is covered. */
function expandFlow(base, expanded, sizeOf, kinds, defaults) {
  let nodes = base.nodes.map((n) => ({ ...n }));
  let edges = base.edges;
  const ids = base.nodes.filter((n) => expanded[n.id] && n.type === "kaizen").sort((a, b) => a.position.x - b.position.x || a.position.y - b.position.y);
  for (const target of ids) {
    const node = nodes.find((n) => n.id === target.id);
    const nested = nestedFlow(node, kinds[node.data.kind], kinds, defaults);
    if (!nested) continue;
    const size = sizeOf(node);
    const { width, height } = nested.group.data;
    const dx = Math.max(0, width - size.width), dy = height + GAP;
    const px = node.position.x, py = node.position.y;
    nodes = nodes.map((n) => {
      if (n.id === node.id || n.parentId) return n;
      let { x, y } = n.position;
      if (x > px) x += dx;
      const w = n.type === "kzgroup" ? n.data.width : sizeOf(n).width;
      if (y > py && x < px + width && x + w > px) y += dy;
      return x === n.position.x && y === n.position.y ? n : { ...n, position: { x, y } };
    });
    nested.group.position = { x: px, y: py + size.height + GAP };
    nodes = [...nodes, nested.group, ...nested.children];
    edges = [...edges, ...nested.edges];
  }
  return { nodes, edges };
}

function ViewerCanvas({ spec, kinds, kindMap, defaults, store, onNodeClick, width, height }) {
  const rf = useReactFlow();
  const base = useMemo(() => {
    // (read-only, a node is wider than in the editor: room for its run status badge, and for the
    // expand button of a node that holds a subgraph; as KaizenNode draws it)
    const sizeIn = (n, meta) => estimatedSize(n, kindMap, meta, defaults, null, true);
    const flow = specToFlow(spec, sizeIn);
    const sizeOf = (n) => sizeIn(n, flow.meta);
    // a template (every node at one spot), or nodes drawn over each other: laid out for this canvas
    // (a read-only view: the stored positions are not changed)
    if (allSamePosition(flow.nodes) || overlapping(flow.nodes, sizeOf)) {
      flow.nodes = autoLayout(flow.nodes, flow.edges, sizeOf, { width, height });
    }
    if (flow.nodes.length > VIRTUALIZE_ABOVE) { // sizes and handles of the nodes not drawn yet, for the edges to them
      flow.nodes = flow.nodes.map((n) => (n.type !== "kaizen" ? n
        : { ...n, ...estimateGeometry(n.data, portsOf(n.data, kindMap[n.data.kind], flow.meta, defaults[n.data.kind]), defaults[n.data.kind]) }));
    }
    return flow;
  }, [spec, kindMap, defaults, width, height]);
  const viewport = useMemo(() => estimateViewport(base.nodes, () => 2, width, height), [base, width, height]);
  if (store.get().lod === undefined) store.set({ lod: viewport.zoom < LOD_ZOOM });
  const expanded = useStore(store, (s) => s.expanded || NONE);
  // far out on a big graph the edges are strokes of a few shared paths, as in the editor
  const lodEdges = useStore(store, (s) => s.lod) && base.nodes.length > VIRTUALIZE_ABOVE;
  const active = useStore(store, (s) => (lodEdges ? s.activeEdges || NONE : NONE));
  const [nodes, setNodes] = useState(base.nodes);
  const [edges, setEdges] = useState(base.edges);
  useEffect(() => {
    // measured sizes of what is drawn, estimates for the rest
    const measured = new Map(rf.getNodes().map((n) => [n.id, n.measured]));
    const sizeOf = (n) => (measured.get(n.id)?.width ? measured.get(n.id) : estimatedSize(n, kindMap, base.meta, defaults, null, true));
    const next = expandFlow(base, expanded, sizeOf, kindMap, defaults);
    // (nodes already drawn keep their measured size: React Flow shows an unmeasured node only once measured)
    setNodes(next.nodes.map((n) => (measured.get(n.id)?.width ? { ...n, measured: measured.get(n.id) } : n)));
    setEdges(next.edges);
    // the whole graph in view again, with the frames that opened or closed
    if (Object.keys(expanded).length) setTimeout(() => rf.fitView({ padding: 0.1, maxZoom: 1, duration: 250 }), 60);
  }, [base, expanded, kindMap, defaults, rf]);
  const onNodesChange = useCallback((changes) => setNodes((ns) => applyNodeChanges(changes, ns)), []);
  const flowRef = useRef(null);
  const { onMoveStart, onMoveEnd } = useMemo(() => movingLayer(store, () => flowRef.current), [store]);
  const onClick = useCallback((_e, n) => {
    if (!onNodeClick || n.type === "kzgroup") return;
    // a nested node opens its latest instance (the item that ran last)
    const id = n.data.nested ? store.get().nested?.[n.data.nested]?.last : n.id;
    if (id) onNodeClick(id);
  }, [onNodeClick, store]);
  return (
    <ReactFlow ref={flowRef} nodes={nodes} edges={lodEdges ? NO_EDGES : edges} onNodesChange={onNodesChange} nodeTypes={nodeTypes} edgeTypes={edgeTypes}
      onMoveStart={onMoveStart} onMoveEnd={onMoveEnd}
      nodesDraggable={false} nodesConnectable={false} edgesFocusable={false} elementsSelectable={Boolean(onNodeClick)}
      deleteKeyCode={null} defaultViewport={viewport} fitView fitViewOptions={{ padding: 0.15, maxZoom: 1 }} minZoom={0.05} maxZoom={2}
      onNodeClick={onNodeClick ? onClick : undefined} onlyRenderVisibleElements={base.nodes.length > VIRTUALIZE_ABOVE}>
      <CanvasDots store={store} />
      {lodEdges && <LodEdges edges={edges} active={active} />}
      <Controls showInteractive={false} />
      {base.nodes.length > MINIMAP_ABOVE && <MiniMap pannable zoomable nodeClassName={(n) => (n.type === "io" ? "mm-io" : n.type === "kzgroup" ? "mm-group" : `mm-node ${categoryClass(kindMap[n.data.kind]?.category)}`)} />}
      <LodSync store={store} />
    </ReactFlow>
  );
}

const NONE = {};
const NO_EDGES = [];
// a small diagram is whole in its view: a minimap would only cover part of it
const MINIMAP_ABOVE = 20;

export function Viewer({ spec, kinds, defaults, store, onNodeClick, width = 900, height = 600 }) {
  const kindMap = useMemo(() => Object.fromEntries(kinds.map((k) => [k.kind, k])), [kinds]);
  const kindDefaults = useMemo(() => defaults || {}, [defaults]);
  const toggleExpand = useCallback((id) => store.set((s) => ({ expanded: { ...s.expanded, [id]: !s.expanded?.[id] } })), [store]);
  const ctx = useMemo(() => ({ kinds: kindMap, defaults: kindDefaults, store, rules: () => null, readOnly: true, toggleExpand }),
    [kindMap, kindDefaults, store, toggleExpand]);
  return (
    <CanvasCtx.Provider value={ctx}>
      <ReactFlowProvider>
        <div className="kz-viewer" onPointerDown={capturePanPointer}>
          <ViewerCanvas spec={spec} kinds={kinds} kindMap={kindMap} defaults={kindDefaults} store={store} onNodeClick={onNodeClick} width={width} height={height} />
        </div>
      </ReactFlowProvider>
    </CanvasCtx.Provider>
  );
}
