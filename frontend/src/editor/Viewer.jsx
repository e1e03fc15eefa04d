// Read-only canvas for the run page: same nodes and edges, with per-node run status pushed in live.
import { useMemo } from "react";
import { useEffect } from "react";
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, useStore as useFlowStore } from "@xyflow/react";
import { LOD_ZOOM, estimateViewport } from "./layout.js";
import { CanvasCtx, edgeTypes, nodeTypes } from "./canvas.jsx";
import { categoryClass } from "./icons.jsx";
import { specToFlow } from "./model.js";

function LodSync({ store }) {
  const lod = useFlowStore((s) => s.transform[2] < LOD_ZOOM);
  useEffect(() => { store.set({ lod }); }, [lod, store]);
  return null;
}

export function Viewer({ spec, kinds, defaults, store, onNodeClick, width = 900, height = 600 }) {
  const kindMap = useMemo(() => Object.fromEntries(kinds.map((k) => [k.kind, k])), [kinds]);
  const flow = useMemo(() => specToFlow(spec), [spec]);
  const viewport = useMemo(() => estimateViewport(flow.nodes, () => 2, width, height), [flow, width, height]);
  if (store.get().lod === undefined) store.set({ lod: viewport.zoom < LOD_ZOOM });
  const ctx = useMemo(() => ({ kinds: kindMap, defaults: defaults || {}, store, rules: () => null, readOnly: true }), [kindMap, defaults, store]);
  return (
    <CanvasCtx.Provider value={ctx}>
      <ReactFlowProvider>
        <div className="kz-viewer">
          <ReactFlow defaultNodes={flow.nodes} defaultEdges={flow.edges} nodeTypes={nodeTypes} edgeTypes={edgeTypes}
            nodesDraggable={false} nodesConnectable={false} edgesFocusable={false} elementsSelectable={Boolean(onNodeClick)}
            deleteKeyCode={null} defaultViewport={viewport} fitView fitViewOptions={{ padding: 0.15, maxZoom: 1 }} minZoom={0.05} maxZoom={2}
            onNodeClick={onNodeClick ? (_e, n) => onNodeClick(n.id) : undefined} onlyRenderVisibleElements={flow.nodes.length > 250}>
            <Background gap={20} size={1.2} />
            <Controls showInteractive={false} />
            <MiniMap pannable zoomable nodeClassName={(n) => (n.type === "io" ? "mm-io" : `mm-node ${categoryClass(kindMap[n.data.kind]?.category)}`)} />
            <LodSync store={store} />
          </ReactFlow>
        </div>
      </ReactFlowProvider>
    </CanvasCtx.Provider>
  );
}
