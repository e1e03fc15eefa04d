// Dialogs: import, export, run, keyboard help, stale-version conflict.
import { useEffect, useRef, useState } from "react";

export function Modal({ title, onClose, children, wide, footer }) {
  const ref = useRef(null);
  useEffect(() => {
    const onKey = (e) => { if (e.key === "Escape") onClose(); };
    window.addEventListener("keydown", onKey);
    ref.current?.querySelector("textarea, input, select, button.btn-primary")?.focus();
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div className="kz-modal-backdrop" onMouseDown={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div className={`kz-modal ${wide ? "wide" : ""}`} role="dialog" aria-modal="true" aria-label={title} ref={ref}>
        <div className="kz-modal-head"><h2>{title}</h2><button type="button" className="btn btn-ghost btn-sm" onClick={onClose} aria-label="Close">✕</button></div>
        <div className="kz-modal-body">{children}</div>
        {footer && <div className="kz-modal-foot">{footer}</div>}
      </div>
    </div>
  );
}

export function ExportDialog({ json, filename, onClose }) {
  const [copied, setCopied] = useState(false);
  const download = () => {
    const url = URL.createObjectURL(new Blob([json], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url; a.download = filename;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  const copy = async () => {
    try { await navigator.clipboard.writeText(json); setCopied(true); } catch { setCopied(false); }
  };
  return (
    <Modal title="Export graph JSON" onClose={onClose} wide footer={<>
      <button type="button" className="btn" onClick={copy}>{copied ? "Copied" : "Copy"}</button>
      <button type="button" className="btn btn-primary" onClick={download}>Download {filename}</button>
    </>}>
      <textarea className="kz-json" readOnly value={json} rows={18} aria-label="Graph JSON" />
    </Modal>
  );
}

export function ImportDialog({ validate, onLoad, onClose }) {
  const [text, setText] = useState("");
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  const check = async (raw) => {
    let doc;
    try { doc = JSON.parse(raw); } catch (e) { setResult({ fatal: `not valid JSON: ${e.message}` }); return; }
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) { setResult({ fatal: "the graph must be a JSON object" }); return; }
    if (doc.spec && typeof doc.spec === "object" && !doc.nodes) doc = doc.spec; // an API graph object
    setBusy(true);
    try {
      const res = await validate(doc);
      const shapeBroken = res.errors.some((e) => /^(nodes|edges|inputs|outputs)?$/.test(e.path) || !Array.isArray(doc.nodes ?? []));
      setResult({ doc, errors: res.errors, fatal: shapeBroken ? "the document's shape is wrong; fix it before loading" : null });
      if (res.valid) { onLoad(doc, []); }
    } catch (e) { setResult({ fatal: e.message }); } finally { setBusy(false); }
  };
  const onFile = async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    const raw = await file.text();
    setText(raw);
    check(raw);
  };
  return (
    <Modal title="Import graph JSON" onClose={onClose} wide footer={<>
      {result?.doc && !result.fatal && result.errors.length > 0 &&
        <button type="button" className="btn" onClick={() => onLoad(result.doc, result.errors)}>Load anyway and fix on the canvas</button>}
      <button type="button" className="btn btn-primary" disabled={busy || !text.trim()} onClick={() => check(text)}>Validate and load</button>
    </>}>
      <p className="muted">Choose a file or paste a document. It replaces the canvas (Ctrl+Z brings the old one back); save to keep it.</p>
      <input type="file" accept=".json,application/json" onChange={onFile} aria-label="Graph JSON file" />
      <textarea className="kz-json" rows={14} placeholder='{"schema_version": 1, "nodes": [...], "edges": [...]}' value={text}
        onChange={(e) => { setText(e.target.value); setResult(null); }} aria-label="Paste graph JSON" />
      {result?.fatal && <div className="kz-issue-box">{result.fatal}</div>}
      {result?.errors?.length > 0 && (
        <div className="kz-issue-box">
          <strong>{result.errors.length} problem{result.errors.length > 1 ? "s" : ""}:</strong>
          <ul>{result.errors.slice(0, 20).map((e, i) => <li key={i}><code>{e.path || "document"}</code> {e.message}</li>)}</ul>
        </div>
      )}
    </Modal>
  );
}

export function RunDialog({ inputs, dirty, onRun, onClose }) {
  const [values, setValues] = useState({});
  const [dry, setDry] = useState(false);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const out = {};
    for (const [name, f] of Object.entries(inputs)) {
      const raw = values[name] ?? "";
      if (raw === "" && f.required === false) continue;
      if (f.type === "string") out[name] = raw;
      else {
        try { out[name] = JSON.parse(raw); } catch { setErr(`${name}: enter JSON (${f.type})`); return; }
      }
    }
    setBusy(true); setErr(null);
    try { await onRun(out, dry); } catch (ex) { setErr(ex.message); setBusy(false); }
  };
  return (
    <Modal title="Run graph" onClose={onClose}>
      <form onSubmit={submit} className="kz-run-form">
        {dirty && <div className="alert">Unsaved changes: the run uses them after they are saved. “Save and run” saves first.</div>}
        {Object.entries(inputs).map(([name, f]) => (
          <label className="field" key={name}>{name} <span className="muted">({f.type}{f.required === false ? ", optional" : ""})</span>
            {f.type === "string" ? <textarea rows={3} value={values[name] ?? ""} placeholder={f.description} required={f.required !== false}
              onChange={(e) => setValues({ ...values, [name]: e.target.value })} />
              : <input value={values[name] ?? ""} placeholder={`JSON ${f.type}`} required={f.required !== false}
                onChange={(e) => setValues({ ...values, [name]: e.target.value })} />}
          </label>
        ))}
        {!Object.keys(inputs).length && <p className="muted">This graph takes no inputs.</p>}
        <label className="check"><input type="checkbox" checked={dry} onChange={(e) => setDry(e.target.checked)} /> Dry run (simulated LLM, estimated cost)</label>
        {err && <div className="kz-issue-box">{err}</div>}
        <button className="btn btn-primary" disabled={busy}>{dirty ? "Save and run" : "Start run"}</button>
      </form>
    </Modal>
  );
}

const SHORTCUTS = [
  ["Ctrl+S", "Save (validates on the server)"], ["Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y", "Undo / redo"],
  ["Delete / Backspace", "Delete the selection"], ["Ctrl+C / Ctrl+V", "Copy / paste nodes (also between graphs)"],
  ["Ctrl+D", "Duplicate the selection"], ["Ctrl+A", "Select all"], ["Shift+drag", "Box-select"],
  ["Ctrl+click", "Add to the selection"], ["Drag an edge's end", "Move it to another port"], ["Drag the canvas / wheel", "Pan / zoom"], ["F", "Fit view"],
  ["L", "Tidy (auto-layout)"], ["G", "Snap to grid on/off"], ["Arrow keys", "Nudge selected nodes"], ["Esc", "Clear selection / close a dialog"], ["?", "This help"],
];

export function HelpOverlay({ onClose }) {
  return (
    <Modal title="Keyboard shortcuts" onClose={onClose}>
      <table className="table kz-keys"><tbody>
        {SHORTCUTS.map(([k, d]) => <tr key={k}><td><kbd>{k}</kbd></td><td>{d}</td></tr>)}
      </tbody></table>
      <p className="muted kz-small">Connect an output port (right) to an input port (left). “on error” connects to another node's fallback handle (top). Invalid connections are refused while you draw, with the reason.</p>
    </Modal>
  );
}

export function ConflictDialog({ info, onReloadTheirs, onOverwrite, onExport, onClose }) {
  return (
    <Modal title="Someone else saved this graph" onClose={onClose} wide footer={<>
      <button type="button" className="btn" onClick={onExport}>Export my version</button>
      <button type="button" className="btn btn-danger" onClick={onReloadTheirs}>Discard mine, load v{info.latest ?? "latest"}</button>
      <button type="button" className="btn btn-primary" onClick={onOverwrite}>Save mine on top of v{info.latest ?? "latest"}</button>
    </>}>
      <p>Your edits started from <strong>v{info.base}</strong>, but the server now has <strong>v{info.latest ?? "a newer version"}</strong>
        {info.by ? <> saved by <strong>{info.by}</strong></> : null}. Nothing was overwritten and your changes are still here.</p>
      <p className="muted">Saving on top makes a new version from your canvas; theirs stays in the history and can be restored.</p>
    </Modal>
  );
}
