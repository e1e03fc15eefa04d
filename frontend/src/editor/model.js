// The graph document <-> React Flow nodes/edges, node ports from the kind registry, connection rules.
// Pure functions: no React here, so the viewer and the tests of the logic share them.

export const INPUTS = "@inputs";
export const OUTPUTS = "@outputs";
export const ERROR_HANDLE = "__error";
export const FALLBACK_HANDLE = "__fallback";
export const ID_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const PORT_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
export const FIELD_TYPES = ["string", "number", "integer", "boolean", "object", "list", "any"];

export function getPath(obj, path) {
  let cur = obj;
  for (const part of path.split(".")) {
    if (cur == null || typeof cur !== "object") return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Immutable set: returns a copy of obj with path (array of keys) set to value (undefined deletes). */
export function setIn(obj, path, value) {
  const [head, ...rest] = path;
  const base = Array.isArray(obj) ? [...obj] : { ...(obj || {}) };
  if (!rest.length) {
    if (value === undefined && !Array.isArray(base)) delete base[head];
    else base[head] = value;
    return base;
  }
  const child = obj == null ? undefined : obj[head];
  base[head] = setIn(child ?? (typeof rest[0] === "number" ? [] : {}), rest, value);
  return base;
}

export function compatible(source, target) {
  if (source === target || source === "any" || target === "any") return true;
  return source === "integer" && target === "number";
}

function fieldList(map) {
  return Object.entries(map || {}).map(([name, f]) => ({ name, type: f.type || "string", description: f.description || "", required: f.required !== false }));
}

function dynList(list) {
  return (Array.isArray(list) ? list : []).filter((f) => f && typeof f.name === "string" && f.name)
    .map((f) => ({ name: f.name, type: f.type || "string", description: f.description || "", required: f.required !== false }));
}

/**
 * Ports of a node, computed in the browser: the kind's static ports (those of its default config), where
 * the default entries of a dynamic config path are replaced by the node's own entries. The server's
 * exact ports (from /graphs/check/) take over as soon as they arrive for the node's current config.
 */
export function portsOf(data, kind, meta, defaults) {
  if (data.io === "inputs") return { inputs: [], outputs: fieldList(meta.inputs) };
  if (data.io === "outputs") return { inputs: fieldList(meta.outputs), outputs: [] };
  if (!kind) return { inputs: [], outputs: [] };
  const side = (staticPorts, dynPath) => {
    const base = fieldList(staticPorts);
    const dyn = dynPath ? getPath(data.config, dynPath) : undefined;
    if (!Array.isArray(dyn)) return base;
    const defaultNames = new Set(dynList(getPath(defaults || {}, dynPath)).map((f) => f.name));
    const out = [];
    let placed = false;
    for (const p of base) {
      if (!defaultNames.has(p.name)) out.push(p);
      else if (!placed) { out.push(...dynList(dyn)); placed = true; }
    }
    if (!placed) out.push(...dynList(dyn));
    const seen = new Set();
    return out.filter((p) => (seen.has(p.name) ? false : seen.add(p.name)));
  };
  return { inputs: side(kind.ports.inputs, kind.ports.dynamic_inputs), outputs: side(kind.ports.outputs, kind.ports.dynamic_outputs) };
}

/** Server ports ({inputs: {name: field}}) as lists. */
export function serverPorts(p) {
  return { inputs: fieldList(p.inputs), outputs: fieldList(p.outputs) };
}

/** A new node's config: the default values at its kind's dynamic paths, so the inspector shows them. */
export function initialConfig(kind, defaults) {
  let config = {};
  for (const key of ["dynamic_inputs", "dynamic_outputs"]) {
    const path = kind.ports[key];
    if (!path) continue;
    const root = path.split(".")[0];
    if (defaults && defaults[root] !== undefined && config[root] === undefined) config = { ...config, [root]: defaults[root] };
  }
  return config;
}

export function edgeId(e) {
  return `${e.source}.${e.sourceHandle}>${e.target}.${e.targetHandle}`;
}

export function toFlowEdge(e) {
  const error = e.kind === "error";
  const sourceHandle = error ? ERROR_HANDLE : e.source_port;
  const targetHandle = error ? FALLBACK_HANDLE : e.target_port;
  const edge = { source: e.source, sourceHandle, target: e.target, targetHandle, type: "kaizen", data: { kind: error ? "error" : "data" } };
  return { ...edge, id: edgeId(edge) };
}

function ioPosition(spec, id, fallback) {
  const p = spec.settings?.editor?.io_positions?.[id];
  return p && Number.isFinite(p.x) && Number.isFinite(p.y) ? { x: p.x, y: p.y } : fallback;
}

/** `sizeOf(flowNode, meta)`, when given, places the graph outputs' node (where the graph stores no
 * place for it) right of the nodes' drawn right edges, not a guess past their left edges: a wide
 * node (a long title, long port names) was drawn under it. */
export function specToFlow(spec, sizeOf = null) {
  const src = spec.nodes || [];
  const xs = src.map((n) => n.position?.x ?? 0);
  const ys = src.map((n) => n.position?.y ?? 0);
  const minX = xs.length ? Math.min(...xs) : 0, maxX = xs.length ? Math.max(...xs) : 0;
  const midY = ys.length ? (Math.min(...ys) + Math.max(...ys)) / 2 : 0;
  const nodes = [
    { id: INPUTS, type: "io", deletable: false, data: { io: "inputs" }, position: ioPosition(spec, INPUTS, { x: minX - 300, y: midY }) },
    { id: OUTPUTS, type: "io", deletable: false, data: { io: "outputs" }, position: ioPosition(spec, OUTPUTS, { x: maxX + 340, y: midY }) },
  ];
  for (const n of src) {
    nodes.push({ id: n.id, type: "kaizen", position: { x: n.position?.x ?? 0, y: n.position?.y ?? 0 },
      data: { kind: n.kind, label: n.label || "", config: n.config || {} } });
  }
  const seen = new Set();
  const edges = [];
  for (const e of spec.edges || []) {
    const fe = toFlowEdge(e);
    if (!seen.has(fe.id)) { seen.add(fe.id); edges.push(fe); }
  }
  const { nodes: _n, edges: _e, inputs, outputs, description, settings, schema_version, ...rest } = spec;
  const meta = { inputs: inputs || {}, outputs: outputs || {}, description: description || "", settings: settings || {}, extra: rest };
  if (sizeOf && src.length && !ioPosition(spec, OUTPUTS, null)) {
    // (only nodes near the rightmost can reach past it: a node is at most 540 px wide, read-only)
    const right = Math.max(...nodes.filter((n) => n.type !== "io" && n.position.x > maxX - 300)
      .map((n) => n.position.x + Math.max(280, sizeOf(n, meta).width)));
    nodes[1] = { ...nodes[1], position: { ...nodes[1].position, x: right + 60 } };
  }
  return { nodes, edges, meta };
}

const round = (v) => Math.round(v * 10) / 10;

/** The document to save, and the React Flow edge id of each spec edge (server errors name edges by index). */
export function flowToSpec({ nodes, edges, meta }) {
  const io = {};
  const specNodes = [];
  for (const n of nodes) {
    if (n.type === "io") { io[n.id] = { x: round(n.position.x), y: round(n.position.y) }; continue; }
    const node = { id: n.id, kind: n.data.kind, config: n.data.config || {}, position: { x: round(n.position.x), y: round(n.position.y) } };
    if (n.data.label) node.label = n.data.label;
    specNodes.push(node);
  }
  const edgeIds = edges.map((e) => e.id);
  const specEdges = edges.map((e) => {
    const error = e.data?.kind === "error";
    return { source: e.source, source_port: error ? "" : e.sourceHandle, target: e.target, target_port: error ? "" : e.targetHandle, kind: error ? "error" : "data" };
  });
  const settings = { ...(meta.settings || {}), editor: { ...(meta.settings?.editor || {}), io_positions: io } };
  const spec = { schema_version: 1, description: meta.description || "", inputs: meta.inputs, outputs: meta.outputs,
    nodes: specNodes, edges: specEdges, settings, ...(meta.extra || {}) };
  return { spec, edgeIds };
}

/** Why a connection may not be drawn, or null when it may. */
export function connectionProblem(conn, ctx) {
  let { source, sourceHandle, target, targetHandle } = conn;
  if (!source || !target) return "drop on a port";
  if (source === target) return "a node cannot feed itself";
  const errorSide = sourceHandle === ERROR_HANDLE, fallbackSide = targetHandle === FALLBACK_HANDLE;
  const srcNode = ctx.nodeById(source), dstNode = ctx.nodeById(target);
  if (!srcNode || !dstNode) return "unknown node";
  if (errorSide !== fallbackSide) return "“on error” connects to a fallback node's “fallback” handle";
  if (errorSide) {
    const taken = ctx.edges.find((e) => e.target === target && e.data?.kind === "error");
    if (taken) return `${target} already handles errors of ${taken.source}`;
    if (ctx.edges.some((e) => e.target === target && e.data?.kind !== "error")) return `${target} has data inputs; a fallback receives the failed node's inputs instead`;
  } else {
    const out = ctx.portsOf(srcNode).outputs.find((p) => p.name === sourceHandle);
    const inp = ctx.portsOf(dstNode).inputs.find((p) => p.name === targetHandle);
    if (!out || !inp) return "unknown port";
    if (!compatible(out.type, inp.type)) return `type mismatch: ${out.name} is ${out.type}, ${inp.name} expects ${inp.type}`;
    const fed = ctx.edges.find((e) => e.target === target && e.targetHandle === targetHandle);
    if (fed) return `${label(dstNode)}.${targetHandle} is already fed by ${fed.source}.${fed.sourceHandle}`;
    if (ctx.edges.some((e) => e.target === target && e.data?.kind === "error")) return `${target} is a fallback: it takes no data edges`;
  }
  if (reaches(ctx.edges, target, source)) return `cycle: ${target} already leads to ${source}`;
  return null;
}

function label(node) {
  return node.data?.label || node.id;
}

function reaches(edges, from, to) {
  const out = new Map();
  for (const e of edges) {
    if (!out.has(e.source)) out.set(e.source, []);
    out.get(e.source).push(e.target);
  }
  const stack = [from], seen = new Set([from]);
  while (stack.length) {
    const cur = stack.pop();
    if (cur === to) return true;
    for (const nxt of out.get(cur) || []) if (!seen.has(nxt)) { seen.add(nxt); stack.push(nxt); }
  }
  return false;
}

/** A fresh node id: stem_1, stem_2 ... (ids follow ^[A-Za-z][A-Za-z0-9_-]{0,63}$). */
export function freshId(base, taken) {
  const clean = String(base).replace(/[^A-Za-z0-9_-]/g, "_").replace(/^[^A-Za-z]+/, "").slice(0, 56) || "node";
  const stem = clean.replace(/_\d+$/, "") || clean;
  for (let i = 1; ; i++) {
    const id = `${stem}_${i}`;
    if (!taken.has(id)) return id;
  }
}

/** Keep a pasted node's id when it is free, else number it. */
export function pasteId(id, taken) {
  return ID_RE.test(id) && !taken.has(id) ? id : freshId(id, taken);
}

/** Server issues -> {nodes: {id: [{message, field}]}, edges: {edgeId: [message]}, list: [...]}. */
export function mapIssues(errors, edgeIds, nodes, edges = []) {
  const byNode = {}, byEdge = {}, list = [];
  const specNodeIds = nodes.filter((n) => n.type !== "io").map((n) => n.id);
  // the validator skips edges of a node whose config is invalid, then reports their targets as unfed:
  // that echo is dropped when the canvas does have the edge (the real problem is reported on the source)
  const fed = new Set(edges.map((e) => `${e.target}.${e.targetHandle}`));
  const echo = (m) => {
    const a = /^required input '([^']+)' of (\S+) is not connected/.exec(m);
    if (a) return fed.has(`${a[2]}.${a[1]}`);
    const b = /^graph output '([^']+)' is not connected/.exec(m);
    return Boolean(b && fed.has(`@outputs.${b[1]}`));
  };
  for (const raw of errors || []) {
    if (echo(String(raw.message || ""))) continue;
    const path = String(raw.path || "").replace(/^spec\.?/, "");
    let node = raw.node || null;
    let field = null;
    const m = path.match(/^nodes\[(\d+)\](?:\.config\.?(.*))?/);
    if (m) {
      node = node || specNodeIds[Number(m[1])] || null;
      if (m[2] !== undefined) field = m[2].replace(/\[(\d+)\]/g, ".$1");
    }
    if (!node && /^inputs\./.test(path)) node = INPUTS;
    if (!node && /^outputs\./.test(path)) node = OUTPUTS;
    const edge = Number.isInteger(raw.edge) ? edgeIds[raw.edge] : null;
    const issue = { message: raw.message, path, node, field, edge };
    list.push(issue);
    if (edge) (byEdge[edge] ||= []).push(raw.message);
    else if (node) (byNode[node] ||= []).push(issue);
    if (edge && node && !byNode[node]) byNode[node] = [];
  }
  return { nodes: byNode, edges: byEdge, list };
}

/** What changed between two documents, in words a person scans. */
export function diffSummary(before, after) {
  const a = new Map((before.nodes || []).map((n) => [n.id, n]));
  const b = new Map((after.nodes || []).map((n) => [n.id, n]));
  const added = [...b.keys()].filter((k) => !a.has(k));
  const removed = [...a.keys()].filter((k) => !b.has(k));
  const changed = [...b.keys()].filter((k) => a.has(k) && (JSON.stringify(a.get(k).config) !== JSON.stringify(b.get(k).config)
    || a.get(k).kind !== b.get(k).kind || (a.get(k).label || "") !== (b.get(k).label || "")));
  const moved = [...b.keys()].filter((k) => a.has(k) && !changed.includes(k) && JSON.stringify(a.get(k).position) !== JSON.stringify(b.get(k).position));
  const ek = (e) => `${e.source}.${e.source_port}>${e.target}.${e.target_port}:${e.kind || "data"}`;
  const ea = new Set((before.edges || []).map(ek)), eb = new Set((after.edges || []).map(ek));
  const lines = [];
  if (added.length) lines.push(`+ ${added.length} node${added.length > 1 ? "s" : ""}: ${added.slice(0, 6).join(", ")}`);
  if (removed.length) lines.push(`− ${removed.length} node${removed.length > 1 ? "s" : ""}: ${removed.slice(0, 6).join(", ")}`);
  if (changed.length) lines.push(`~ ${changed.length} node${changed.length > 1 ? "s" : ""} changed: ${changed.slice(0, 6).join(", ")}`);
  if (moved.length) lines.push(`↔ ${moved.length} node${moved.length > 1 ? "s" : ""} moved`);
  const eAdded = [...eb].filter((k) => !ea.has(k)).length, eRemoved = [...ea].filter((k) => !eb.has(k)).length;
  if (eAdded) lines.push(`+ ${eAdded} edge${eAdded > 1 ? "s" : ""}`);
  if (eRemoved) lines.push(`− ${eRemoved} edge${eRemoved > 1 ? "s" : ""}`);
  if (JSON.stringify(before.inputs || {}) !== JSON.stringify(after.inputs || {})) lines.push("graph inputs changed");
  if (JSON.stringify(before.outputs || {}) !== JSON.stringify(after.outputs || {})) lines.push("graph outputs changed");
  return lines.length ? lines : ["no differences"];
}
