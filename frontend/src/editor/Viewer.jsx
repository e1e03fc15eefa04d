// Read-only canvas for the run page: same nodes and edges, with per-node run status pushed in live.
import { useMemo } from "react";
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider } from "@xyflow/react";
import { CanvasCtx, edgeTypes, nodeTypes } from "./canvas.jsx";
import { specToFlow } from "./model.js";

export function Viewer({ spec, kinds, store, onNodeClick }) {
  const kindMap = useMemo(() => Object.fromEntries(kinds.map((k) => [k.kind, k])), [kinds]);
  const flow = useMemo(() => specToFlow(spec), [spec]);
  const ctx = useMemo(() => ({ kinds: kindMap, store, rules: () => null, readOnly: true }), [kindMap, store]);
  return (
    <CanvasCtx.Provider value={ctx}>
      <ReactFlowProvider>
        <div className="kz-viewer">
          <ReactFlow defaultNodes={flow.nodes} defaultEdges={flow.edges} nodeTypes={nodeTypes} edgeTypes={edgeTypes}
            nodesDraggable={false} nodesConnectable={false} edgesFocusable={false} elementsSelectable={Boolean(onNodeClick)}
            deleteKeyCode={null} fitView fitViewOptions={{ padding: 0.15, maxZoom: 1 }} minZoom={0.05} maxZoom={2}
            onNodeClick={onNodeClick ? (_e, n) => onNodeClick(n.id) : undefined} onlyRenderVisibleElements={flow.nodes.length > 250}>
            <Background gap={20} size={1.2} />
            <Controls showInteractive={false} />
            <MiniMap pannable zoomable />
          </ReactFlow>
        </div>
      </ReactFlowProvider>
    </CanvasCtx.Provider>
  );
}
