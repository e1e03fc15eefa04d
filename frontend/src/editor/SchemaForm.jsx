// A form generated from a pydantic JSON Schema ($defs/$ref, anyOf-null, enums, arrays of objects).
// The server's schema is the single source of truth; field errors come from local checks and the server.
import { createContext, useContext, useState } from "react";
import { McpPicker } from "./ToolsField.jsx";

/** (title, doc, onChange) => void: opens the nested subgraph editor (provided by the Editor). */
export const GraphWidgetCtx = createContext(null);
/** The workspace's model connections [{name, models, builtin}] (null while loading), from /api/connections/. */
export const ConnectionsCtx = createContext(null);

/** x-kaizen-widget "connection": the workspace's connections; "model": the chosen connection's models.
 * A value the list does not hold (an old graph, a connection since deleted) stays shown and selected. */
function connectionSelect(connections, { widget, id, value, onChange, parent, shown }) {
  if (!connections) return null;
  let options;
  if (widget === "connection") {
    options = connections.map((c) => ({ value: c.builtin ? "" : c.name, label: c.builtin ? `${c.name} (${c.simulated ? "simulated model" : "server's endpoint"})` : c.name }));
    if (value && !options.some((o) => o.value === value)) options.push({ value, label: `${value} (not in this workspace)` });
  } else {
    const chosen = connections.find((c) => (parent?.connection ? c.name === parent.connection : c.builtin));
    if (!chosen || chosen.builtin || !chosen.models?.length) return null;  // any model name: a text field
    options = chosen.models.map((m) => ({ value: m, label: m }));
    const current = value ?? shown;
    if (current && !chosen.models.includes(current)) options.unshift({ value: current, label: `${current} (not offered)` });
  }
  return (
    <select id={id} data-widget={widget} value={widget === "connection" ? (value ?? "") : (value ?? shown ?? "")}
      onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)}>
      {options.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
    </select>
  );
}

export function resolve(schema, root) {
  let s = schema || {};
  for (let i = 0; s.$ref && i < 10; i++) {
    const name = s.$ref.replace(/^#\/(\$defs|definitions)\//, "");
    const { $ref, ...rest } = s;
    s = { ...(root.$defs?.[name] || root.definitions?.[name] || {}), ...rest };
  }
  return s;
}

/** {schema, nullable}: unwraps anyOf [X, null]. */
function unwrap(schema, root) {
  const s = resolve(schema, root);
  if (Array.isArray(s.anyOf)) {
    const parts = s.anyOf.map((p) => resolve(p, root));
    const nonNull = parts.filter((p) => p.type !== "null");
    if (nonNull.length === 1) return { schema: { ...nonNull[0], title: s.title, description: s.description, default: s.default }, nullable: parts.length > 1 };
  }
  return { schema: s, nullable: false };
}

const ACRONYMS = { llm: "LLM", id: "ID", ids: "IDs", json: "JSON", url: "URL", api: "API", ttl: "TTL", k: "k", usd: "USD", sql: "SQL" };
const UNITS = { s: "seconds", ms: "ms", usd: "USD", pct: "%", chars: "characters" };

/** A label a person would write, from a field name: `llm_timeout_s` -> "LLM timeout (seconds)". */
export function humanize(name) {
  const words = String(name).split(/_+/).filter(Boolean);
  let unit = "";
  if (words.length > 1 && UNITS[words[words.length - 1]]) unit = ` (${UNITS[words.pop()]})`;
  const text = words.map((w, i) => ACRONYMS[w.toLowerCase()] || (i === 0 ? w[0].toUpperCase() + w.slice(1) : w.toLowerCase())).join(" ");
  return text + unit;
}

/** The schema's own title when a person wrote it; pydantic's machine-made one ("Llm Timeout S") is
 * replaced by `humanize(name)`. */
export function fieldTitle(name, schema) {
  const machine = String(name).split("_").filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(" ");
  return schema.title && schema.title !== machine ? schema.title : humanize(name);
}

/** Local checks of one value against its schema; server errors are merged in by the caller. */
export function localProblem(value, schema, required) {
  if (value === undefined || value === null || value === "") return required && schema.default === undefined ? "required" : null;
  if (schema.type === "number" || schema.type === "integer") {
    if (typeof value !== "number" || Number.isNaN(value)) return "enter a number";
    if (schema.type === "integer" && !Number.isInteger(value)) return "enter a whole number";
    if (schema.minimum !== undefined && value < schema.minimum) return `at least ${schema.minimum}`;
    if (schema.maximum !== undefined && value > schema.maximum) return `at most ${schema.maximum}`;
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return `greater than ${schema.exclusiveMinimum}`;
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) return `less than ${schema.exclusiveMaximum}`;
  }
  if (schema.type === "string" && typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) return `at least ${schema.minLength} characters`;
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return `at most ${schema.maxLength} characters`;
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) return `must match ${schema.pattern}`;
  }
  if (schema.type === "array" && Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) return `at least ${schema.minItems} item${schema.minItems > 1 ? "s" : ""}`;
    if (schema.maxItems !== undefined && value.length > schema.maxItems) return `at most ${schema.maxItems} items`;
  }
  return null;
}

function Err({ msg }) {
  return msg ? <span className="field-error">{msg}</span> : null;
}

function JsonField({ value, onChange, id }) {
  const [text, setText] = useState(() => (value === undefined ? "" : JSON.stringify(value, null, 2)));
  const [bad, setBad] = useState(null);
  return (
    <>
      <textarea id={id} className="kz-mono" rows={4} value={text} onChange={(e) => {
        setText(e.target.value);
        if (!e.target.value.trim()) { setBad(null); onChange(undefined); return; }
        try { onChange(JSON.parse(e.target.value)); setBad(null); } catch { setBad("not valid JSON"); }
      }} />
      <Err msg={bad} />
    </>
  );
}

/** "3 nodes, 2 edges — inputs: item; outputs: result" */
export function graphSummary(doc) {
  const d = doc && typeof doc === "object" ? doc : {};
  const n = Array.isArray(d.nodes) ? d.nodes.length : 0, e = Array.isArray(d.edges) ? d.edges.length : 0;
  const names = (m) => Object.keys(m || {}).join(", ") || "none";
  return `${n} node${n === 1 ? "" : "s"}, ${e} edge${e === 1 ? "" : "s"} — inputs: ${names(d.inputs)}; outputs: ${names(d.outputs)}`;
}

/** A field holding an inline graph document (x-kaizen-widget: graph): a summary and a nested editor. */
function GraphField({ title, value, onChange, path, errors }) {
  const open = useContext(GraphWidgetCtx);
  const doc = value && typeof value === "object" ? value : { schema_version: 1, inputs: {}, outputs: {}, nodes: [], edges: [] };
  const nested = Object.entries(errors || {}).filter(([k]) => k === path || k.startsWith(`${path}.`)).map(([, m]) => m);
  return (
    <div className={`field kz-field kz-graph-field ${nested.length ? "has-error" : ""}`} data-field={path}>
      <label>{title}</label>
      <div className="kz-graph-summary" data-testid="graph-summary">{graphSummary(doc)}</div>
      {open ? <button type="button" className="btn btn-sm" onClick={() => open(title, doc, onChange)}>Edit subgraph</button>
        : <span className="kz-help">Nested subgraph (read-only here).</span>}
      {nested.map((m, i) => <span key={i} className="field-error">{m}</span>)}
    </div>
  );
}

/** An agent's tools: the list as JSON (HTTP tools), and MCP servers' tools picked one by one. */
function ToolsField({ title, schema, value, onChange, id, problem, path }) {
  const [version, setVersion] = useState(0);  // the JSON text is rebuilt when the picker changes the list
  return (
    <div className={`field kz-field ${problem ? "has-error" : ""}`} data-field={path}>
      <label htmlFor={id}>{title}</label>
      <JsonField key={version} value={value} onChange={onChange} id={id} />
      {schema.description && <span className="kz-help">{schema.description}</span>}
      <Err msg={problem} />
      <McpPicker value={value} onChange={(v) => { onChange(v.length ? v : undefined); setVersion(version + 1); }} />
    </div>
  );
}

function ScalarInput({ schema, value, onChange, nullable, id, name, dflt, parent, widget }) {
  const shown = dflt !== undefined ? dflt : schema.default;
  const placeholder = shown != null ? String(shown) : nullable ? "(none)" : "";
  const connections = useContext(ConnectionsCtx);
  if (widget === "connection" || widget === "model") {
    const select = connectionSelect(connections, { widget, id, value, onChange, parent, shown });
    if (select) return select;
  }
  if (schema.enum) {
    return (
      <select id={id} value={value ?? shown ?? ""} onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)}>
        {(nullable || (value === undefined && shown == null)) && <option value="">—</option>}
        {schema.enum.map((o) => <option key={String(o)} value={o}>{String(o)}</option>)}
      </select>
    );
  }
  if (schema.type === "boolean") {
    return <input id={id} type="checkbox" checked={value ?? shown ?? false} onChange={(e) => onChange(e.target.checked)} />;
  }
  if (schema.type === "number" || schema.type === "integer") {
    return <input id={id} type="number" step={schema.type === "integer" ? 1 : "any"} placeholder={placeholder}
      value={value ?? ""} onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))} />;
  }
  const long = (schema.maxLength ?? 0) >= 2000 || /prompt|instructions|template|description/i.test(name);
  if (long) {
    return <textarea id={id} rows={name.includes("prompt") || name.includes("instructions") ? 4 : 2} placeholder={placeholder}
      value={value ?? ""} onChange={(e) => onChange(e.target.value === "" && nullable ? null : e.target.value)} />;
  }
  return <input id={id} type="text" placeholder={placeholder} value={value ?? ""}
    onChange={(e) => onChange(e.target.value === "" && (nullable || schema.default !== undefined) ? undefined : e.target.value)} />;
}

/** Arrays of small objects (signature fields, routes ...) as compact rows. */
function ObjectList({ schema, root, value, onChange, path, errors, idBase }) {
  const item = resolve(schema.items, root);
  const items = Array.isArray(value) ? value : [];
  const props = Object.entries(item.properties || {});
  const blank = () => Object.fromEntries(props.filter(([, p]) => resolve(p, root).default !== undefined).map(([k, p]) => [k, resolve(p, root).default]));
  const set = (i, v) => onChange(items.map((x, j) => (j === i ? v : x)));
  return (
    <div className="kz-list">
      {items.map((it, i) => (
        <div className="kz-list-item" key={i}>
          <div className="kz-list-fields">
            {props.map(([k, p]) => (
              <SchemaField key={k} name={k} schema={p} root={root} value={it?.[k]} required={(item.required || []).includes(k)} parent={it}
                compact path={`${path}.${i}.${k}`} errors={errors} idBase={idBase}
                onChange={(v) => set(i, v === undefined ? Object.fromEntries(Object.entries(it || {}).filter(([kk]) => kk !== k)) : { ...it, [k]: v })} />
            ))}
          </div>
          <div className="kz-list-actions">
            <button type="button" className="btn btn-ghost btn-sm" title="Move up" disabled={i === 0}
              onClick={() => { const c = [...items]; [c[i - 1], c[i]] = [c[i], c[i - 1]]; onChange(c); }}>↑</button>
            <button type="button" className="btn btn-ghost btn-sm kz-danger" title="Remove" onClick={() => onChange(items.filter((_, j) => j !== i))}>✕</button>
          </div>
        </div>
      ))}
      <button type="button" className="btn btn-sm" onClick={() => onChange([...items, blank()])}>+ Add</button>
    </div>
  );
}

/** A list of scalars is one JSON field: the server's errors on its items (assignees.0) show under it. */
function itemErrors(errors, path, schema, root) {
  if (schema.type !== "array" || resolve(schema.items || {}, root).type === "object") return undefined;
  const found = Object.entries(errors || {}).filter(([k]) => k.startsWith(`${path}.`)).map(([, m]) => m);
  return found.length ? found.join("; ") : undefined;
}

export function SchemaField({ name, schema: raw, root, value, onChange, required, path, errors, compact, idBase, dflt, parent }) {
  const { schema, nullable } = unwrap(raw, root);
  const widget = resolve(raw, root)["x-kaizen-widget"];
  const id = `${idBase}-${path}`.replace(/[^A-Za-z0-9_-]/g, "-");
  const server = errors?.[path] || itemErrors(errors, path, schema, root);
  const problem = server || localProblem(value, schema, required && !nullable);
  const title = fieldTitle(name, schema);
  let control;
  if (schema["x-kaizen-widget"] === "graph") {
    return <GraphField title={title} value={value ?? dflt} onChange={onChange} path={path} errors={errors} />;
  }
  if (schema["x-kaizen-widget"] === "tools") {
    return <ToolsField title={title} schema={schema} value={value ?? dflt} onChange={onChange} id={id} problem={problem} path={path} />;
  }
  if (schema.type === "object" && schema.properties) {
    return (
      <fieldset className="kz-fieldset" data-field={path}>
        <legend>{title}</legend>
        {schema.description && <p className="kz-help">{schema.description}</p>}
        {Object.entries(schema.properties).map(([k, p]) => (
          <SchemaField key={k} name={k} schema={p} root={root} value={value?.[k]} required={(schema.required || []).includes(k)}
            path={`${path}.${k}`} errors={errors} idBase={idBase} dflt={value === undefined ? dflt?.[k] : undefined} parent={value}
            onChange={(v) => onChange(v === undefined ? Object.fromEntries(Object.entries(value || {}).filter(([kk]) => kk !== k)) : { ...(value || {}), [k]: v })} />
        ))}
        <Err msg={errors?.[path]} />
      </fieldset>
    );
  }
  if (schema.type === "array" && resolve(schema.items, root).type === "object") {
    return (
      <fieldset className="kz-fieldset" data-field={path}>
        <legend>{title}</legend>
        <ObjectList schema={schema} root={root} value={value ?? dflt} onChange={onChange} path={path} errors={errors} idBase={idBase} />
        <Err msg={problem} />
      </fieldset>
    );
  }
  if (schema.type === "array" || schema.type === "object" || (!schema.type && !schema.enum)) {
    control = <JsonField value={value ?? dflt} onChange={onChange} id={id} />;
  } else {
    control = <ScalarInput schema={schema} value={value} onChange={onChange} nullable={nullable} id={id} name={name} dflt={dflt}
      parent={parent} widget={widget} />;
  }
  const cls = `field kz-field ${compact ? "kz-compact" : ""} ${problem ? "has-error" : ""} ${schema.type === "boolean" ? "kz-check" : ""}`;
  return (
    <div className={cls} data-field={path}>
      <label htmlFor={id}>{title}{required && !nullable && schema.default === undefined ? " *" : ""}</label>
      {control}
      {!compact && schema.description && <span className="kz-help">{schema.description}</span>}
      <Err msg={problem} />
    </div>
  );
}

/** The whole config form of a node kind: port-defining fields first, rarely changed ones under "Advanced". */
export function SchemaForm({ schema, value, onChange, errors, idBase, portPaths = [], defaults = {} }) {
  const root = schema || {};
  const first = new Set(portPaths.filter(Boolean).map((p) => p.split(".")[0]));
  const entries = Object.entries(root.properties || {});
  const isAdvanced = ([k, p]) => {
    if (first.has(k) || (root.required || []).includes(k) || k === "connection") return false;
    const s = resolve(p, root);
    return /timeout|retries|base_url|credential/i.test(k) || (s.default === null && s.anyOf !== undefined && !errors?.[k]);
  };
  const field = ([k, p]) => (
    <SchemaField key={k} name={k} schema={p} root={root} value={value?.[k]} required={(root.required || []).includes(k)}
      path={k} errors={errors} idBase={idBase} dflt={defaults?.[k]} parent={value}
      onChange={(v) => onChange(v === undefined ? Object.fromEntries(Object.entries(value || {}).filter(([kk]) => kk !== k)) : { ...(value || {}), [k]: v })} />
  );
  const main = entries.filter((e) => !isAdvanced(e)).sort((a, b) => rank(a, root, first) - rank(b, root, first));
  const advanced = entries.filter(isAdvanced);
  const advancedHasError = advanced.some(([k]) => Object.keys(errors || {}).some((e) => e === k || e.startsWith(`${k}.`)));
  return (
    <>
      {main.map(field)}
      {advanced.length > 0 && (
        <details className="kz-advanced" open={advancedHasError}>
          <summary>Advanced ({advanced.length})</summary>
          {advanced.map(field)}
        </details>
      )}
    </>
  );
}

function rank([name, schema], root, first) {
  if (first.has(name)) return 0;
  const s = resolve(schema, root);
  if (s.type === "object" || s.$ref) return 5;
  return 1;
}
