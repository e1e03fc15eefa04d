// Node, edge and connection-line components shared by the editor and the read-only run viewer.
import { createContext, memo, useContext, useEffect, useMemo, useRef, useState } from "react";
import { BaseEdge, EdgeLabelRenderer, Handle, Position, ViewportPortal, getBezierPath, useStoreApi, useUpdateNodeInternals } from "@xyflow/react";
import { Icon, NodeIcon, categoryClass } from "./icons.jsx";
import { ERROR_HANDLE, FALLBACK_HANDLE, connectionProblem, portsOf } from "./model.js";
import { textWidth } from "./measure.js";
import { useStore, useStoreShallow } from "./store.js";

/** kinds: name -> registry entry; defaults: kind -> default config; store: {meta, issues, statuses, ports, lod};
 * rules: () => connection context. */
export const CanvasCtx = createContext(null);

const NO_ISSUES = [];

const SHORT = { string: "str", number: "num", integer: "int", boolean: "bool", object: "obj", list: "list", any: "any" };

/** A port name short enough for its side of the node, shortened at word boundaries (`_`, camelCase),
 * never mid-word; the full name is in the tooltip. */
export function abbreviate(name, max = 20) {
  if (name.length <= max) return name;
  const words = name.split(/(?<=_)|(?<=[a-z])(?=[A-Z])/);
  let out = "";
  for (const w of words) {
    if ((out + w).length > max - 1) break;
    out += w;
  }
  return `${(out || words[0]).replace(/_$/, "")}…`;
}

// the run canvas's expand button in a node's head: 20 px, its 2 px margin and the head's 8 px gap (editor.css)
const EXPAND_W = 30;

const SHORT_TYPE = (t) => ({ string: "str", number: "num", integer: "int", boolean: "bool", object: "obj" }[t] || t);

/** A node's width as KaizenNode draws it: read-only, room for the widest status badge ("succeeded")
 * instead of the kind, and for the run canvas's expand button. */
function drawnWidth(title, kindName, ports, members, readOnly, canExpand) {
  return nodeWidth(title, readOnly ? "succeeded" : kindName, ports, members) + (readOnly ? 30 : 0) + (canExpand ? EXPAND_W : 0);
}

/** Width that fits the title and the longest pair of port names (so nothing is truncated), the same
 * whether the node is drawn in full or in low detail (edges keep their ends). Mirrors editor.css's
 * paddings; text is measured in the page's fonts. */
export function nodeWidth(title, kindName, ports, members) {
  const side = (p, optional) => (p ? 24 + textWidth(abbreviate(p.name) + (optional && !p.required ? "?" : ""), "port") + 5 + textWidth(SHORT_TYPE(p.type), "tag") : 24);
  let w = 20 + 26 + 16 + textWidth(title, "title") + textWidth(kindName, "kind") + 10;
  const rows = Math.max(ports.inputs.length, ports.outputs.length);
  for (let i = 0; i < rows; i++) w = Math.max(w, side(ports.inputs[i], true) + 8 + side(ports.outputs[i], false));
  for (const r of members?.rows || []) w = Math.max(w, 32 + textWidth(r.name, "member") + 8 + textWidth(r.detail, "detail"));
  return Math.min(480, Math.max(200, Math.ceil(w + 8)));
}

/** A node's size and handle positions as drawn (mirroring editor.css), for nodes not yet mounted: React
 * Flow mounts every node it has not measured once, even off screen, which would cost a 2,000-node graph
 * all its nodes at load. With these, edges to off-screen nodes are drawn from the estimate; a node is
 * measured for real (and its estimate dropped) when it first comes into view. */
export function estimateGeometry(data, ports, defaults, readOnly = null) {
  const members = memberRows(data.kind, { ...defaults, ...data.config });
  // (as KaizenNode: read-only, room for the widest status badge, and for an expand button)
  const width = readOnly ? drawnWidth(data.label || data.id || "", data.kind, ports, members, true, readOnly.canExpand)
    : nodeWidth(data.label || "", data.kind, ports, members);
  const top = 45 + (data.label ? 14 : 0) + 4;
  const rows = Math.max(ports.inputs.length, ports.outputs.length);
  const handles = [];
  // an 11 px handle centred 6 px outside the node's content box (1 px border): x -10.5, or width - 0.5
  ports.inputs.forEach((p, i) => handles.push({ id: p.name, type: "target", position: "left", x: -10.5, y: top + i * 24 + 6.5, width: 11, height: 11 }));
  ports.outputs.forEach((p, i) => handles.push({ id: p.name, type: "source", position: "right", x: width - 0.5, y: top + i * 24 + 6.5, width: 11, height: 11 }));
  const height = top + rows * 24 + 6 + 25 + (members ? 22 + 20 * members.rows.length : 0);
  return { width, height, handles };
}

/** A node's size before it is drawn: for layouts (dagre) and the run canvas's nested subgraphs. */
export function estimatedSize(n, kinds, meta, defaults, ports = null, readOnly = false) {
  if (n.type === "io") {
    const p = portsOf(n.data, null, n.data.meta || meta);
    return { width: 220, height: 52 + 24 * Math.max(1, p.inputs.length, p.outputs.length) };
  }
  if (n.type !== "kaizen") return { width: n.width || 240, height: n.height || 80 };
  const kindDefaults = defaults?.[n.data.kind];
  const { width, height } = estimateGeometry(readOnly ? { ...n.data, id: n.id } : n.data, ports || portsOf(n.data, kinds[n.data.kind], meta, kindDefaults), kindDefaults,
    readOnly ? { canExpand: !n.data.nested && graphFields(kinds[n.data.kind]).length > 0 } : null);
  return { width, height };
}

/** A handle as plain DOM (no component, no store subscription): React Flow measures handles from the DOM
 * (.source/.target with data-handleid), so far-out nodes keep exact edge ends at a fraction of the cost.
 * With `rfId` it is also a valid end for a connection being drawn (React Flow finds the handle under the
 * pointer by its data-id and its connectable classes; `connectionindicator` gives it pointer events), though
 * not a start: see `live`. */
function plainHandle(nodeId, type, id, position, className, rfId = null) {
  const end = rfId === null ? "" : " nodrag nopan connectable connectablestart connectableend connectionindicator";
  return <div className={`react-flow__handle react-flow__handle-${position} ${type} ${className}${end}`} data-handleid={id} data-nodeid={nodeId}
    data-handlepos={position} data-id={rfId === null ? undefined : `${rfId}-${nodeId}-${id}-${type}`} />;
}

/** A node's handle: React Flow's own (it starts connections and shows the one being drawn, at the price
 * of two store subscriptions each, run on every frame of a pan) only where the pointer can use it: on
 * the node under the pointer, the selected one, and every node while a connection is drawn (`live`).
 * Elsewhere the same element as plain DOM. */
function PortHandle({ live, lod, rfId, nodeId, type, id, position, className, title }) {
  if (live) return <Handle type={type} position={position} id={id} className={className} title={title} />;
  return plainHandle(nodeId, type, id, position, className, lod ? null : rfId);
}

// where nothing hovers (touch screens), a handle cannot come to life under a pointer first: always live
const CAN_HOVER = typeof window === "undefined" || !window.matchMedia || window.matchMedia("(hover: hover)").matches;

/** One row of a node's ports: the input's handle and name on the left, the output's on the right. Four
 * elements at most (the row, the names, the handles: each type tag is the CSS `content` of its name, from
 * `data-type`): what a pan over a big graph pays for is the DOM of the nodes that come into view. */
function PortRow({ nodeId, input, output, lod, live, rfId }) {
  if (lod) {
    return (
      <div className="kz-port-row">
        {input && plainHandle(nodeId, "target", input.name, "left", `kz-handle t-${input.type}`)}
        {output && plainHandle(nodeId, "source", output.name, "right", `kz-handle t-${output.type}`)}
      </div>
    );
  }
  return (
    <div className="kz-port-row">
      {input && <>
        <PortHandle live={live} rfId={rfId} nodeId={nodeId} type="target" position={Position.Left} id={input.name} className={`kz-handle t-${input.type}`} />
        <span className="kz-port-name kz-in" data-type={SHORT[input.type] || input.type}
          title={`${input.name}: ${input.type}${input.description ? ` — ${input.description}` : ""}`}>{abbreviate(input.name)}{input.required ? "" : "?"}</span>
      </>}
      {output && <>
        <span className="kz-port-name kz-out" data-type={SHORT[output.type] || output.type}
          title={`${output.name}: ${output.type}${output.description ? ` — ${output.description}` : ""}`}>{abbreviate(output.name)}</span>
        <PortHandle live={live} rfId={rfId} nodeId={nodeId} type="source" position={Position.Right} id={output.name} className={`kz-handle t-${output.type}`} />
      </>}
    </div>
  );
}

function PortRows({ nodeId, ports, lod, live = true, rfId = null }) {
  const rows = Math.max(ports.inputs.length, ports.outputs.length);
  const out = [];
  for (let i = 0; i < rows; i++) out.push(<PortRow key={i} nodeId={nodeId} input={ports.inputs[i]} output={ports.outputs[i]} lod={lod} live={live} rfId={rfId} />);
  return out;
}

/** Re-measure handles when a node's ports change (not on mount: React Flow measures new nodes itself). */
function useRemeasure(id, key) {
  const update = useUpdateNodeInternals();
  const last = useRef(key);
  useEffect(() => {
    if (last.current !== key) { last.current = key; update(id); }
  }, [key, id, update]);
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

/** What a consensus or fallback node is made of, as rows inside it: the voters (model, temperature,
 * personality) or the levels in the order they are tried. `lit` names the row the run is on. */
export function memberRows(kindName, config) {
  if (kindName === "consensus" && Array.isArray(config?.voters)) {
    return { title: "voters", rows: config.voters.map((v, i) => ({ key: v.name || `voter ${i + 1}`, name: v.name || `voter ${i + 1}`,
      detail: [v.model, v.temperature !== undefined && v.temperature !== null ? `t=${v.temperature}` : null].filter(Boolean).join(" · "),
      tip: v.persona || "" })) };
  }
  if (kindName === "fallback" && Array.isArray(config?.levels)) {
    return { title: "levels, tried in order", rows: config.levels.map((l, i) => ({ key: String(i + 1), name: `${i + 1}. ${l.model || "default model"}`,
      detail: [l.quality, l.level_timeout_s ? `${l.level_timeout_s}s` : null].filter(Boolean).join(" · "), tip: l.system_prompt || "" })) };
  }
  if (kindName === "pev") {
    const model = config?.model || "default model";
    return { title: "each iteration", rows: [
      { key: "plan", name: "plan", detail: model, tip: "Plans how to do the task" },
      { key: "execute", name: "execute", detail: model, tip: "Carries out the plan" },
      { key: "verify", name: "verify", detail: config?.verifier_model || model, tip: "Judges the result; a rejected result starts the next iteration" },
    ] };
  }
  return null;
}

/** Config fields of a kind that hold an inline graph (x-kaizen-widget: graph): what the run canvas can expand. */
export function graphFields(kind) {
  const props = kind?.config_schema?.properties || {};
  return Object.keys(props).filter((k) => props[k]?.["x-kaizen-widget"] === "graph");
}

function MemberRows({ members, lit, lod }) {
  return (
    <div className="kz-members" aria-label={members.title}>
      <div className="kz-members-title">{lod ? "\u00a0" : members.title}</div>
      {members.rows.map((r) => (
        <div key={r.key} className={`kz-member ${lit?.[r.key] ? `lit-${lit[r.key]}` : ""}`} data-member={r.key} title={r.tip}>
          <span className="kz-member-name">{lod ? "\u00a0" : r.name}</span>
          <span className="kz-member-detail">{lod ? "" : r.detail}</span>
        </div>
      ))}
    </div>
  );
}

const sameNode = (a, b) => a.id === b.id && a.data === b.data && a.selected === b.selected;

/** Error/fallback handles exist only where they can matter: the selected node, nodes with an error
 * edge, and all nodes while an "on error" connection is drawn. Fewer handles to measure on load, and
 * no re-measuring while the pointer sweeps over nodes during a pan. */
function errorHandles(selected, wired, drawingError) {
  return { showError: selected || Boolean(wired & 1), showFallback: drawingError || Boolean(wired & 2) };
}

export const KaizenNode = memo(function KaizenNode({ id, data, selected }) {
  const { kinds, defaults, store, readOnly, toggleExpand } = useContext(CanvasCtx);
  const flowStore = useStoreApi();
  const kind = kinds[data.kind];
  // a node of an expanded subgraph on the run canvas (data.nested = its status key) shows the
  // states of every instance of it (each for-each item) in one badge
  const statusKey = data.nested || id;
  // one subscription per node for everything the editor pushes to it
  const { server, issues, status, count, wired, drawingError, connecting, lod, lit, expanded } = useStoreShallow(store, (s) => ({
    server: s.ports?.[id], issues: s.issues.nodes[id] || NO_ISSUES,
    status: (data.nested ? s.nested?.[statusKey]?.status : s.statuses[statusKey]) || "",
    count: (data.nested && s.nested?.[statusKey]?.count) || "",
    wired: s.errorWired?.[id] || 0, drawingError: Boolean(s.drawingError), connecting: Boolean(s.connecting), lod: Boolean(s.lod), lit: s.members?.[id],
    expanded: Boolean(s.expanded?.[id]) }));
  const canExpand = Boolean(readOnly && toggleExpand && !data.nested && graphFields(kind).length);
  // the server's ports (computed by the engine) when they are for this very config, else the local estimate
  const ports = useMemo(() => (server && server.config === data.config ? server.ports : portsOf(data, kind, {}, defaults?.[data.kind])),
    [server, data, kind, defaults]);
  const { showError, showFallback } = errorHandles(selected, wired, drawingError);
  // React Flow's handles only where a pointer can use them (PortHandle); read-only canvases never connect
  const [hover, setHover] = useState(false);
  const live = !readOnly && !lod && (CAN_HOVER ? hover || selected || connecting : true);
  const rfId = readOnly ? null : flowStore.getState().rfId;
  // zoomed far out (`lod`, set by one subscription upstream), nodes drop their labels: same size and
  // handles, far less DOM to lay out
  useRemeasure(id, `${portKey(ports)}|${showError && !readOnly}|${showFallback && !readOnly}`);
  // (an empty config means the kind's defaults: a new consensus node shows the default voters)
  const members = useMemo(() => memberRows(data.kind, { ...defaults?.[data.kind], ...data.config }), [data.kind, data.config, defaults]);
  // (read-only, the head's right side is a run status badge: room for the widest, "succeeded")
  const width = useMemo(() => drawnWidth(data.label || id, data.kind, ports, members, readOnly, canExpand),
    [data.label, id, data.kind, ports, members, canExpand, readOnly]);
  const cls = ["kz-node", categoryClass(kind?.category), selected && "selected", issues.length && "has-issues",
    status && `run-${status}`, !kind && "unknown-kind", lod && "lod"].filter(Boolean).join(" ");
  return (
    <div className={cls} data-node-id={id} style={{ width }}
      onPointerEnter={readOnly ? undefined : () => setHover(true)} onPointerLeave={readOnly ? undefined : () => setHover(false)}>
      {!readOnly && showFallback && <PortHandle live={live} lod={lod} rfId={rfId} nodeId={id} type="target" position={Position.Top} id={FALLBACK_HANDLE}
        className="kz-handle kz-fallback" title="fallback: handles another node's errors" />}
      <div className="kz-node-head">
        <span className="kz-node-icon">{lod ? null : <NodeIcon name={kind?.icon || "box"} accent={categoryClass(kind?.category)} />}</span>
        <span className="kz-node-title" title={data.label || id}>{data.label || id}</span>
        {lod ? null : status ? <span className={`status status-${status}`} title={count || undefined}>{status === "not-run" ? "not run" : status}</span> : <span className="kz-node-kind">{data.kind}</span>}
        {canExpand && !lod && (
          <button type="button" className="kz-expand nodrag nopan" aria-expanded={expanded} data-testid="expand"
            title={expanded ? "Hide the nested nodes" : "Show the nested nodes (each for-each item's state in one badge)"}
            onClick={(e) => { e.stopPropagation(); toggleExpand(id); }}>{expanded ? "−" : "+"}</button>
        )}
      </div>
      {count && !lod && <div className="kz-node-count" data-testid="nested-count">{count}</div>}
      {data.label && !data.nested && <div className="kz-node-id">{lod ? "\u00a0" : id}</div>}
      <div className="kz-ports"><PortRows nodeId={id} ports={ports} lod={lod} live={live} rfId={rfId} /></div>
      {members && <MemberRows members={members} lit={lit} lod={lod} />}
      {!readOnly && (
        <div className="kz-node-foot">
          <span className="kz-onerror" title="Select the node, then drag its on-error handle to a fallback node">{lod ? "\u00a0" : "on error"}</span>
          {showError && <PortHandle live={live} lod={lod} rfId={rfId} nodeId={id} type="source" position={Position.Right} id={ERROR_HANDLE}
            className="kz-handle kz-error-handle" title="on error: connect to a fallback node" />}
        </div>
      )}
      <IssueNote issues={issues} />
    </div>
  );
}, sameNode);

export const IoNode = memo(function IoNode({ id, data, selected }) {
  const { store } = useContext(CanvasCtx);
  const storeMeta = useStore(store, (s) => s.meta);
  const meta = data.meta || storeMeta; // (an expanded subgraph's own inputs and outputs)
  const ports = useMemo(() => portsOf(data, null, meta), [data, meta]);
  const issues = useStore(store, (s) => s.issues.nodes[id] || NO_ISSUES);
  useRemeasure(id, portKey(ports));
  const inputs = data.io === "inputs";
  // one column of names: as wide as the longest (abbreviated) one
  const width = useMemo(() => Math.min(440, Math.max(200, ...(inputs ? ports.outputs : ports.inputs).map((p) =>
    Math.ceil(24 + textWidth(abbreviate(p.name) + (inputs || p.required ? "" : "?"), "port") + 5 + textWidth(SHORT_TYPE(p.type), "tag") + 12)))), [ports, inputs]);
  return (
    <div className={`kz-node kz-io ${inputs ? "kz-io-in" : "kz-io-out"} ${selected ? "selected" : ""} ${issues.length ? "has-issues" : ""}`} data-node-id={id} style={{ width }}>
      <div className="kz-node-head">
        <span className="kz-node-icon"><NodeIcon name={inputs ? "log-in" : "log-out"} accent="io" /></span>
        <span className="kz-node-title">{inputs ? "Inputs" : "Outputs"}</span>
        <span className="kz-node-kind">graph</span>
      </div>
      <div className="kz-ports">
        {(inputs ? ports.outputs : ports.inputs).length ? <PortRows nodeId={id} ports={ports} />
          : <div className="kz-io-empty">{inputs ? "no inputs yet" : "no outputs yet"}<br />add them in Graph settings</div>}
      </div>
      <IssueNote issues={issues} />
    </div>
  );
}, sameNode);

export function KaizenEdge({ id, source, target, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data, selected, markerEnd }) {
  const { store } = useContext(CanvasCtx);
  // one subscription per edge: issues, run highlight, low detail (far out: no wide invisible hit path),
  // and whether it touches a selected node
  const { issues, lod, active, near } = useStoreShallow(store, (s) => ({
    issues: s.issues.edges[id] || NO_ISSUES, lod: Boolean(s.lod), active: Boolean(s.activeEdges?.[id]),
    near: Boolean(s.selectedNodes?.size && (s.selectedNodes.has(source) || s.selectedNodes.has(target))) }));
  const [path, lx, ly] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  const error = data?.kind === "error";
  const cls = ["kz-edge", error && "kz-edge-error", issues.length && "has-issues", selected && "selected", active && "active", near && "near"].filter(Boolean).join(" ");
  return (
    <>
      <BaseEdge id={id} path={path} className={cls} markerEnd={markerEnd} interactionWidth={lod ? 0 : 14} />
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

/** The frame of an expanded node's nested subgraph on the run canvas (drawn under the node). */
export const GroupNode = memo(function GroupNode({ data }) {
  return (
    <div className="kz-group" style={{ width: data.width, height: data.height }} data-group-of={data.of}>
      <div className="kz-group-title"><span className="nest-mark">↳</span> {data.title}</div>
    </div>
  );
});

/** Where an edge meets a handle of a node React Flow holds (measured bounds, else the node's estimated
 * `handles`): the middle of the handle's outer side, as React Flow anchors its own edges. */
function anchor(node, type, id) {
  const bounds = node?.internals.handleBounds?.[type] || node?.handles?.filter((h) => h.type === type);
  const h = bounds?.find((b) => b.id === id) || (id == null ? bounds?.[0] : null);
  if (!h) return null;
  const { x, y } = node.internals.positionAbsolute;
  const dx = { left: 0, right: h.width }[h.position] ?? h.width / 2;
  const dy = { top: 0, bottom: h.height }[h.position] ?? h.height / 2;
  return { x: x + h.x + dx, y: y + h.y + dy, position: h.position };
}

const LOD_TILE = 1600; // flow px: the low-detail edge layer's strokes are grouped by the tile they start in
const LOD_CLASS = { data: "kz-edge", error: "kz-edge kz-edge-error", issue: "kz-edge has-issues", active: "kz-edge active" };
const near = (p, q) => Math.abs(p.x - q.x) < 1 && Math.abs(p.y - q.y) < 1 && p.position === q.position;

/** Far out on a big graph (low detail: edges are hairlines nobody can click), every edge is drawn as one
 * stroke of a few shared <path>s instead of a React Flow edge each: no component, store subscription or
 * paint chunk per edge while the canvas pans (bench/editor_load.py, the pan at the opening view). Redrawn
 * when React Flow's store changes for anything but the viewport (nodes moved, measured, added), or when the
 * edges, their problems or the run's active edges change. Drawn under the nodes; error edges, edges with a
 * problem and (in the run viewer) edges a running node reads keep their colours. */
export function LodEdges({ edges, issues, active }) {
  const store = useStoreApi();
  const [paths, setPaths] = useState({}); // "group tile" -> the strokes of that group starting in that tile
  // edge id -> {a, b, d, key}: a stroke is recomputed only when an end moved by a pixel or its group
  // changed, across redraws for new edges, problems or run states too
  const drawnRef = useRef(new Map());
  useEffect(() => {
    const drawn = drawnRef.current;
    let frame = 0;
    const draw = () => {
      frame = 0;
      const { nodeLookup } = store.getState();
      const dirty = new Set(drawn.size ? [] : [""]);
      const seen = new Set();
      for (const e of edges) {
        seen.add(e.id);
        const a = anchor(nodeLookup.get(e.source), "source", e.sourceHandle ?? null);
        const b = anchor(nodeLookup.get(e.target), "target", e.targetHandle ?? null);
        const was = drawn.get(e.id);
        if (!a || !b) { if (was) { drawn.delete(e.id); dirty.add(was.key); } continue; }
        const group = issues?.[e.id]?.length ? "issue" : active?.[e.id] ? "active" : e.data?.kind === "error" ? "error" : "data";
        if (was && was.group === group && near(was.a, a) && near(was.b, b)) continue;
        const d = was && near(was.a, a) && near(was.b, b) ? was.d
          : getBezierPath({ sourceX: a.x, sourceY: a.y, sourcePosition: a.position, targetX: b.x, targetY: b.y, targetPosition: b.position })[0];
        const key = `${group} ${Math.floor(a.x / LOD_TILE)},${Math.floor(a.y / LOD_TILE)}`;
        if (was) dirty.add(was.key);
        dirty.add(key);
        drawn.set(e.id, { a, b, d, key, group });
      }
      for (const [id, was] of drawn) if (!seen.has(id)) { drawn.delete(id); dirty.add(was.key); }
      if (!dirty.size) return;
      // only the tiles a changed stroke is in are rebuilt: a node measured as it comes into view redraws
      // one small path, and the browser culls the tiles out of view (one path of every edge was a
      // 150 KB path re-parsed and re-rastered on every change)
      const rebuilt = {};
      for (const { d, key } of drawn.values()) if (dirty.has(key) || dirty.has("")) (rebuilt[key] ||= []).push(d);
      setPaths((prev) => {
        const next = dirty.has("") ? {} : { ...prev };
        for (const key of dirty) delete next[key];
        for (const [key, ds] of Object.entries(rebuilt)) next[key] = ds.join("");
        return next;
      });
    };
    draw();
    // (a node coming into view is measured: its ends move only if the estimate was off; at most once a frame)
    const unsubscribe = store.subscribe((s, prev) => { if (s.transform === prev.transform && !frame) frame = requestAnimationFrame(draw); });
    return () => { unsubscribe(); cancelAnimationFrame(frame); };
  }, [edges, issues, active, store]);
  return (
    <ViewportPortal>
      <svg className="kz-lod-edges" aria-hidden="true">
        {Object.entries(paths).map(([key, d]) => <path key={key} className={LOD_CLASS[key.split(" ")[0]]} d={d} />)}
      </svg>
    </ViewportPortal>
  );
}

/** The canvas's dot grid (every 20 px of the flow), drawn inside the viewport: a pan moves it with the
 * nodes (in full detail one composited layer, see movingLayer) where React Flow's <Background>, a pattern
 * offset by the pan, repaints the whole canvas on every frame, and Chromium re-layerizes the page after
 * each such paint (bench/pan_trace.py at 2,000 nodes: layerizing ~450 -> ~110 ms per pan; editor_load.py:
 * late frames of a pan 17 -> 4 %, with the edge anchors, see Editor.jsx). Far out (low detail) there are
 * no dots: at that scale they are a grey haze, and there the canvas is repainted on every frame anyway. */
export function CanvasDots({ store }) {
  const lod = useStore(store, (s) => Boolean(s.lod));
  if (lod) return null;
  return <ViewportPortal><div className="kz-dots" aria-hidden="true" /></ViewportPortal>;
}

/** While the wheel zooms, the canvas is one composited layer scaled as pixels (removed when the zoom
 * ends, so text is re-rendered sharp); and while a pan moves nodes in full detail, so that a frame
 * rasters only what came into view, not the whole view again. Measured in Chromium without a GPU
 * (bench/editor_load.py, 2,000 nodes at ~45 %): late frames 52-60 % -> 17-21 %, pan p50 33 -> 17 ms,
 * though the main thread does ~75 % more per step (Layerize of a layer whose content changes as nodes
 * come into view). Not far out (low detail): there the layer made the pan worse (late frames 35 -> 42 %).
 * For React Flow's onMoveStart / onMoveEnd; `el()` is the element above the viewport. */
export function movingLayer(store, el) {
  return {
    onMoveStart: (event) => { if (event?.type === "wheel" || !store.get().lod) el()?.classList.add("kz-moving"); },
    onMoveEnd: () => el()?.classList.remove("kz-moving"),
  };
}

/** A drag on the empty canvas captures the pointer: while it pans, the browser sends the moves to the pane
 * without hit testing the hundreds of nodes and edges under the cursor on every move (the editor bench's
 * trace: a third of a pan's hit-testing time). For the canvas container's onPointerDown. */
export function capturePanPointer(event) {
  const el = event.target;
  if (event.button === 0 && el.classList?.contains("react-flow__pane")) el.setPointerCapture?.(event.pointerId);
}

export const nodeTypes = { kaizen: KaizenNode, io: IoNode, kzgroup: GroupNode };
export const edgeTypes = { kaizen: KaizenEdge };
