// Node, edge and connection-line components shared by the editor and the read-only run viewer.
import { createContext, memo, useContext, useEffect, useMemo } from "react";
import { BaseEdge, EdgeLabelRenderer, Handle, Position, getBezierPath, useUpdateNodeInternals } from "@xyflow/react";
import { Icon, categoryClass } from "./icons.jsx";
import { ERROR_HANDLE, FALLBACK_HANDLE, connectionProblem, portsOf } from "./model.js";
import { useStore } from "./store.js";

/** kinds: name -> registry entry; store: {meta, issues, statuses}; rules: () => connection context. */
export const CanvasCtx = createContext(null);

const NO_ISSUES = [];

function PortRow({ input, output }) {
  return (
    <div className="kz-port-row">
      <div className="kz-port kz-port-in">
        {input && <>
          <Handle type="target" position={Position.Left} id={input.name} className={`kz-handle t-${input.type}`} />
          <span className="kz-port-name" title={input.description || input.name}>{input.name}{input.required ? "" : "?"}</span>
          <span className="kz-port-type">{input.type}</span>
        </>}
      </div>
      <div className="kz-port kz-port-out">
        {output && <>
          <span className="kz-port-type">{output.type}</span>
          <span className="kz-port-name" title={output.description || output.name}>{output.name}</span>
          <Handle type="source" position={Position.Right} id={output.name} className={`kz-handle t-${output.type}`} />
        </>}
      </div>
    </div>
  );
}

function PortRows({ ports }) {
  const rows = Math.max(ports.inputs.length, ports.outputs.length);
  const out = [];
  for (let i = 0; i < rows; i++) out.push(<PortRow key={i} input={ports.inputs[i]} output={ports.outputs[i]} />);
  return out;
}

function portKey(ports) {
  return ports.inputs.map((p) => p.name).join(",") + "|" + ports.outputs.map((p) => p.name).join(",");
}

function IssueNote({ issues }) {
  if (!issues.length) return null;
  return (
    <div className="kz-node-issues" title={issues.map((i) => i.message).join("\n")}>
      <Icon name="alert-triangle" size={13} /> <span>{issues[0].message}</span>
      {issues.length > 1 && <span className="kz-more">+{issues.length - 1}</span>}
    </div>
  );
}

export const KaizenNode = memo(function KaizenNode({ id, data, selected }) {
  const { kinds, store, readOnly } = useContext(CanvasCtx);
  const kind = kinds[data.kind];
  const ports = useMemo(() => portsOf(data, kind, {}), [data, kind]);
  const issues = useStore(store, (s) => s.issues.nodes[id] || NO_ISSUES);
  const status = useStore(store, (s) => s.statuses[id] || "");
  const update = useUpdateNodeInternals();
  const key = portKey(ports);
  useEffect(() => { update(id); }, [key, id, update]);
  const cls = ["kz-node", categoryClass(kind?.category), selected && "selected", issues.length && "has-issues",
    status && `run-${status}`, !kind && "unknown-kind"].filter(Boolean).join(" ");
  return (
    <div className={cls} data-node-id={id}>
      {!readOnly && <Handle type="target" position={Position.Top} id={FALLBACK_HANDLE} className="kz-handle kz-fallback" title="fallback: handles another node's errors" />}
      <div className="kz-node-head">
        <span className="kz-node-icon"><Icon name={kind?.icon || "box"} size={15} /></span>
        <span className="kz-node-title">{data.label || id}</span>
        {status ? <span className={`status status-${status}`}>{status}</span> : <span className="kz-node-kind">{data.kind}</span>}
      </div>
      {data.label && <div className="kz-node-id">{id}</div>}
      <div className="kz-ports"><PortRows ports={ports} /></div>
      {!readOnly && (
        <div className="kz-node-foot">
          <span className="kz-onerror">on error</span>
          <Handle type="source" position={Position.Right} id={ERROR_HANDLE} className="kz-handle kz-error-handle" title="on error: connect to a fallback node" />
        </div>
      )}
      <IssueNote issues={issues} />
    </div>
  );
});

export const IoNode = memo(function IoNode({ id, data, selected }) {
  const { store } = useContext(CanvasCtx);
  const meta = useStore(store, (s) => s.meta);
  const ports = useMemo(() => portsOf(data, null, meta), [data, meta]);
  const issues = useStore(store, (s) => s.issues.nodes[id] || NO_ISSUES);
  const update = useUpdateNodeInternals();
  const key = portKey(ports);
  useEffect(() => { update(id); }, [key, id, update]);
  const inputs = data.io === "inputs";
  return (
    <div className={`kz-node kz-io ${inputs ? "kz-io-in" : "kz-io-out"} ${selected ? "selected" : ""} ${issues.length ? "has-issues" : ""}`} data-node-id={id}>
      <div className="kz-node-head">
        <span className="kz-node-icon"><Icon name={inputs ? "log-in" : "log-out"} size={15} /></span>
        <span className="kz-node-title">{inputs ? "Inputs" : "Outputs"}</span>
        <span className="kz-node-kind">graph</span>
      </div>
      <div className="kz-ports">
        {(inputs ? ports.outputs : ports.inputs).length ? <PortRows ports={ports} />
          : <div className="kz-io-empty">{inputs ? "no inputs yet" : "no outputs yet"}<br />add them in Graph settings</div>}
      </div>
      <IssueNote issues={issues} />
    </div>
  );
});

export function KaizenEdge({ id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data, selected, markerEnd }) {
  const { store } = useContext(CanvasCtx);
  const issues = useStore(store, (s) => s.issues.edges[id] || NO_ISSUES);
  const active = useStore(store, (s) => s.activeEdges?.[id] || false);
  const [path, lx, ly] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  const error = data?.kind === "error";
  const cls = ["kz-edge", error && "kz-edge-error", issues.length && "has-issues", selected && "selected", active && "active"].filter(Boolean).join(" ");
  return (
    <>
      <BaseEdge id={id} path={path} className={cls} markerEnd={markerEnd} interactionWidth={14} />
      {(issues.length > 0 || (error && selected)) && (
        <EdgeLabelRenderer>
          <div className={`kz-edge-label nodrag nopan ${issues.length ? "is-issue" : ""}`} style={{ transform: `translate(-50%, -50%) translate(${lx}px, ${ly}px)` }}>
            {issues.length ? issues[0] : "on error → fallback"}
          </div>
        </EdgeLabelRenderer>
      )}
    </>
  );
}

/** The line drawn while connecting; over a port it refuses with the reason, before the drop. */
export function ConnectionLine({ fromX, fromY, toX, toY, fromPosition, toPosition, fromNode, fromHandle, toNode, toHandle }) {
  const { rules } = useContext(CanvasCtx);
  let problem = null;
  if (toHandle && toNode && fromHandle) {
    const forward = fromHandle.type === "source";
    const conn = forward
      ? { source: fromNode.id, sourceHandle: fromHandle.id, target: toNode.id, targetHandle: toHandle.id }
      : { source: toNode.id, sourceHandle: toHandle.id, target: fromNode.id, targetHandle: fromHandle.id };
    problem = toHandle.type === fromHandle.type ? "connect an output to an input" : connectionProblem(conn, rules());
  }
  const [path] = getBezierPath({ sourceX: fromX, sourceY: fromY, sourcePosition: fromPosition, targetX: toX, targetY: toY, targetPosition: toPosition });
  return (
    <g className={`kz-connection ${problem ? "invalid" : toHandle ? "valid" : ""}`}>
      <path d={path} fill="none" className="kz-connection-path" />
      {problem && (
        <foreignObject x={toX + 12} y={toY - 36} width="300" height="60" className="kz-connection-reason-box">
          <div className="kz-connection-reason">{problem}</div>
        </foreignObject>
      )}
    </g>
  );
}

export const nodeTypes = { kaizen: KaizenNode, io: IoNode };
export const edgeTypes = { kaizen: KaizenEdge };
