// The editor's toolbar: title and save state, history, layout and view toggles, import/export, run, save.
/** Stateless: every action comes from the Editor (undo/redo from its history, save from its persistence). */
export function Toolbar({ embedded, urls, name, version, dirty, saving, canUndo, canRedo, undo, redo, layout, fit, snap, toggleSnap,
  show, toggle, panel, setPanel, setModal, exportJson, save, done }) {
  return (
    <div className="kz-toolbar" role="toolbar" aria-label="Editor">
      {embedded ? (
        <div className="kz-title">
          <span className="kz-graph-name">{embedded.title}</span>
          <span className="muted kz-small">Subgraph: saved with the outer graph</span>
        </div>
      ) : (
      <div className="kz-title">
        <a href={urls.detail} className="kz-back" title="Back to the graph page">←</a>
        <span className="kz-graph-name">{name}</span>
        <span className="badge" data-testid="version">v{version}</span>
        <span className={`kz-save-state ${dirty ? "dirty" : "clean"}`} data-testid="save-state">{saving ? "Saving…" : dirty ? "Unsaved changes" : "All changes saved"}</span>
      </div>
      )}
      <div className="kz-tools">
        <button type="button" className="btn btn-sm" onClick={undo} disabled={!canUndo} title="Undo (Ctrl+Z)">↶ Undo</button>
        <button type="button" className="btn btn-sm" onClick={redo} disabled={!canRedo} title="Redo (Ctrl+Shift+Z)">↷ Redo</button>
        <span className="kz-sep" />
        <button type="button" className="btn btn-sm" onClick={layout} title="Tidy: lay the graph out to fit the canvas (L)">Tidy</button>
        <button type="button" className="btn btn-sm" onClick={fit} title="Fit view (F)">Fit</button>
        <button type="button" className={`btn btn-sm ${snap ? "is-on" : ""}`} aria-pressed={snap} title="Snap to grid (G)"
          onClick={toggleSnap}>Snap</button>
        <span className="kz-sep" />
        <button type="button" className={`btn btn-sm ${show.palette ? "is-on" : ""}`} aria-pressed={show.palette} title="Show or hide the palette" onClick={() => toggle("palette")}>Palette</button>
        <button type="button" className={`btn btn-sm ${show.side ? "is-on" : ""}`} aria-pressed={show.side} title="Show or hide the inspector" onClick={() => toggle("side")}>Inspector</button>
        <button type="button" className={`btn btn-sm ${show.minimap ? "is-on" : ""}`} aria-pressed={show.minimap} title="Show or hide the minimap" onClick={() => toggle("minimap")}>Map</button>
        {embedded ? <>
          <span className="kz-sep" />
          <button type="button" className="btn btn-sm btn-ghost" onClick={() => setModal({ type: "help" })} title="Keyboard shortcuts (?)">?</button>
          <span className="kz-sep" />
          <button type="button" className="btn btn-sm" onClick={embedded.onCancel}>Cancel</button>
          <button type="button" className="btn btn-sm btn-primary" onClick={done}>Done</button>
        </> : <>
        <span className="kz-sep" />
        <button type="button" className="btn btn-sm" onClick={() => setModal({ type: "import" })}>Import</button>
        <button type="button" className="btn btn-sm" onClick={() => setModal({ type: "export", json: exportJson() })}>Export</button>
        <button type="button" className={`btn btn-sm ${panel === "history" ? "is-on" : ""}`} onClick={() => setPanel(panel === "history" ? null : "history")}>History</button>
        <button type="button" className="btn btn-sm btn-ghost" onClick={() => setModal({ type: "help" })} title="Keyboard shortcuts (?)">?</button>
        <span className="kz-sep" />
        <button type="button" className="btn btn-sm" onClick={() => setModal({ type: "run" })}>▶ Run</button>
        <button type="button" className="btn btn-sm btn-primary" onClick={() => save()} disabled={saving} title="Save (Ctrl+S)">Save</button>
        </>}
      </div>
    </div>
  );
}
