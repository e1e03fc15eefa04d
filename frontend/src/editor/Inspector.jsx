// Right panel: the selected node's config (form from the kind's JSON Schema), or the graph's settings.
import { useState } from "react";
import { Icon, categoryClass } from "./icons.jsx";
import { FIELD_TYPES, ID_RE, PORT_RE } from "./model.js";
import { SchemaForm } from "./SchemaForm.jsx";

function fieldErrors(issues) {
  const out = {};
  for (const i of issues || []) if (i.field) out[i.field] = out[i.field] ? `${out[i.field]}; ${i.message}` : i.message;
  return out;
}

function RenameId({ id, onRename }) {
  const [draft, setDraft] = useState(id);
  const [err, setErr] = useState(null);
  const commit = () => {
    if (draft === id) return;
    const problem = !ID_RE.test(draft) ? "letters, digits, _ and -, starting with a letter" : onRename(draft);
    setErr(problem || null);
    if (problem) setDraft(id);
  };
  return (
    <div className={`field kz-field ${err ? "has-error" : ""}`}>
      <label htmlFor="kz-node-id">Node id</label>
      <input id="kz-node-id" className="kz-mono" value={draft} onChange={(e) => setDraft(e.target.value)} onBlur={commit}
        onKeyDown={(e) => { if (e.key === "Enter") commit(); }} />
      {err && <span className="field-error">{err}</span>}
    </div>
  );
}

export function NodeInspector({ node, kind, defaults, issues, onConfig, onLabel, onRename, onDelete }) {
  const general = (issues || []).filter((i) => !i.field);
  return (
    <div className="kz-inspector" data-inspector-node={node.id}>
      <div className={`kz-inspector-head ${categoryClass(kind?.category)}`}>
        <span className="kz-node-icon"><Icon name={kind?.icon || "box"} size={18} /></span>
        <div>
          <div className="kz-inspector-title">{kind?.title || node.data.kind}</div>
          <div className="muted kz-small">{kind?.description || "Unknown node kind: the server does not know it."}</div>
        </div>
      </div>
      {general.length > 0 && <div className="kz-issue-box">{general.map((i, n) => <div key={n}>{i.message}</div>)}</div>}
      <div className="field kz-field">
        <label htmlFor="kz-node-label">Label</label>
        <input id="kz-node-label" value={node.data.label || ""} placeholder={node.id} onChange={(e) => onLabel(e.target.value)} />
      </div>
      <RenameId key={node.id} id={node.id} onRename={onRename} />
      {kind ? <SchemaForm schema={kind.config_schema} value={node.data.config} onChange={onConfig} errors={fieldErrors(issues)} idBase={`cfg-${node.id}`}
          portPaths={[kind.ports.dynamic_inputs, kind.ports.dynamic_outputs]} defaults={defaults} />
        : <pre className="code">{JSON.stringify(node.data.config, null, 2)}</pre>}
      <div className="kz-inspector-foot">
        <button type="button" className="btn btn-danger btn-sm" onClick={onDelete}>Delete node</button>
      </div>
    </div>
  );
}

function FieldsEditor({ title, fields, onChange, idBase, issues }) {
  const entries = Object.entries(fields || {});
  const rename = (old, name) => onChange(Object.fromEntries(entries.map(([k, v]) => [k === old ? name : k, v])), { from: old, to: name });
  const setField = (k, patch) => onChange({ ...fields, [k]: { ...fields[k], ...patch } });
  const add = () => {
    let i = entries.length + 1;
    while (fields[`${idBase}_${i}`]) i++;
    onChange({ ...fields, [`${idBase}_${i}`]: { type: "string", description: "", required: true } });
  };
  return (
    <fieldset className="kz-fieldset" data-field={idBase}>
      <legend>{title}</legend>
      {entries.length === 0 && <p className="kz-help">None yet.</p>}
      {entries.map(([name, f], idx) => (
        <div className="kz-list-item" key={name}>
          <div className="kz-list-fields">
            <PortName name={name} taken={fields} onRename={(to) => rename(name, to)} id={`${idBase}-name-${idx}`} />
            <div className="field kz-field kz-compact">
              <label htmlFor={`${idBase}-type-${idx}`}>Type</label>
              <select id={`${idBase}-type-${idx}`} value={f.type || "string"} onChange={(e) => setField(name, { type: e.target.value })}>
                {FIELD_TYPES.map((t) => <option key={t}>{t}</option>)}
              </select>
            </div>
            <div className="field kz-field kz-compact">
              <label htmlFor={`${idBase}-desc-${idx}`}>Description</label>
              <input id={`${idBase}-desc-${idx}`} value={f.description || ""} onChange={(e) => setField(name, { description: e.target.value })} />
            </div>
            <div className="field kz-field kz-compact kz-check">
              <label htmlFor={`${idBase}-req-${idx}`}>Required</label>
              <input id={`${idBase}-req-${idx}`} type="checkbox" checked={f.required !== false} onChange={(e) => setField(name, { required: e.target.checked })} />
            </div>
            {(issues[name] || []).map((m, n) => <span key={n} className="field-error">{m}</span>)}
          </div>
          <div className="kz-list-actions">
            <button type="button" className="btn btn-ghost btn-sm kz-danger" title="Remove"
              onClick={() => onChange(Object.fromEntries(entries.filter(([k]) => k !== name)), { from: name, to: null })}>✕</button>
          </div>
        </div>
      ))}
      <button type="button" className="btn btn-sm" onClick={add}>+ Add {idBase === "input" ? "input" : "output"}</button>
    </fieldset>
  );
}

function PortName({ name, taken, onRename, id }) {
  const [draft, setDraft] = useState(name);
  const [err, setErr] = useState(null);
  const commit = () => {
    if (draft === name) return setErr(null);
    if (!PORT_RE.test(draft)) { setErr("letters, digits and _"); return; }
    if (taken[draft]) { setErr("name taken"); return; }
    setErr(null);
    onRename(draft);
  };
  return (
    <div className={`field kz-field kz-compact ${err ? "has-error" : ""}`}>
      <label htmlFor={id}>Name</label>
      <input id={id} className="kz-mono" value={draft} onChange={(e) => setDraft(e.target.value)} onBlur={commit}
        onKeyDown={(e) => { if (e.key === "Enter") commit(); }} />
      {err && <span className="field-error">{err}</span>}
    </div>
  );
}

export function GraphSettings({ name, description, meta, issues, onName, onDescription, onFields, version, embedded = false }) {
  const byField = { inputs: {}, outputs: {} };
  for (const i of issues.list) {
    const m = i.path.match(/^(inputs|outputs)\.([A-Za-z0-9_]+)/);
    if (m) (byField[m[1]][m[2]] ||= []).push(i.message);
  }
  return (
    <div className="kz-inspector">
      <div className="kz-inspector-head">
        <span className="kz-node-icon"><Icon name="wrench" size={18} /></span>
        <div>
          <div className="kz-inspector-title">{embedded ? "Subgraph settings" : "Graph settings"}</div>
          <div className="muted kz-small">Select a node to edit it.{embedded ? " Inputs and outputs are the subgraph's ports." : ` Version ${version}.`}</div>
        </div>
      </div>
      {!embedded && (
        <div className="field kz-field">
          <label htmlFor="kz-graph-name">Name</label>
          <input id="kz-graph-name" value={name} onChange={(e) => onName(e.target.value)} />
        </div>
      )}
      <div className="field kz-field">
        <label htmlFor="kz-graph-desc">Description</label>
        <textarea id="kz-graph-desc" rows={2} value={description} onChange={(e) => onDescription(e.target.value)} />
      </div>
      <FieldsEditor title={embedded ? "Subgraph inputs" : "Graph inputs"} idBase="input" fields={meta.inputs} issues={byField.inputs} onChange={(f, rename) => onFields("inputs", f, rename)} />
      <FieldsEditor title={embedded ? "Subgraph outputs" : "Graph outputs"} idBase="output" fields={meta.outputs} issues={byField.outputs} onChange={(f, rename) => onFields("outputs", f, rename)} />
    </div>
  );
}
