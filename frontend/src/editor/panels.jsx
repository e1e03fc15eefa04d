// Palette (kinds from the registry), problems list and version history.
import { useCallback, useEffect, useMemo, useState } from "react";
import { Icon, categoryClass } from "./icons.jsx";
import { diffSummary } from "./model.js";

export const DND_TYPE = "application/x-kaizen-kind";

export function Palette({ kinds, onAdd }) {
  const [q, setQ] = useState("");
  const groups = useMemo(() => {
    const out = new Map();
    const needle = q.trim().toLowerCase();
    for (const k of kinds) {
      if (needle && !`${k.kind} ${k.title} ${k.description} ${k.category}`.toLowerCase().includes(needle)) continue;
      if (!out.has(k.category)) out.set(k.category, []);
      out.get(k.category).push(k);
    }
    return [...out.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [kinds, q]);
  return (
    <aside className="kz-palette" aria-label="Node palette">
      <input className="kz-search" type="search" placeholder="Search node kinds…" value={q} onChange={(e) => setQ(e.target.value)} />
      {groups.map(([cat, list]) => (
        <section key={cat}>
          <h4 className="kz-cat">{cat}</h4>
          {list.map((k) => (
            <div key={k.kind} className={`kz-palette-item ${categoryClass(k.category)}`} draggable data-kind={k.kind} title={k.description}
              role="button" tabIndex={0}
              onDragStart={(e) => { e.dataTransfer.setData(DND_TYPE, k.kind); e.dataTransfer.setData("text/plain", k.kind); e.dataTransfer.effectAllowed = "move"; }}
              onClick={() => onAdd(k.kind)} onKeyDown={(e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onAdd(k.kind); } }}>
              <span className="kz-node-icon"><Icon name={k.icon} size={15} /></span>
              <div>
                <div className="kz-palette-title">{k.title}</div>
                <div className="kz-palette-desc">{k.description}</div>
              </div>
            </div>
          ))}
        </section>
      ))}
      {!groups.length && <p className="muted kz-small">No kind matches.</p>}
      <p className="kz-help kz-palette-hint">Click to add in the middle of the view, or drag onto the canvas.</p>
    </aside>
  );
}

export function ProblemsPanel({ issues, open, setOpen, onFocus, source }) {
  const n = issues.list.length;
  return (
    <div className={`kz-problems ${n ? "has" : "none"} ${open ? "open" : ""}`}>
      <button type="button" className="kz-problems-toggle" onClick={() => setOpen(!open)}>
        <Icon name={n ? "alert-triangle" : "check-circle"} size={14} />
        {n ? `${n} problem${n > 1 ? "s" : ""}` : "No problems"}
        {source && <span className="muted"> · {source}</span>}
      </button>
      {open && n > 0 && (
        <ul className="kz-problems-list">
          {issues.list.map((i, k) => (
            <li key={k}>
              <button type="button" onClick={() => onFocus(i)}>
                {i.node && <code>{i.node}</code>} {i.message}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function ago(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}

export function HistoryPanel({ api, urls, current, currentSpec, published, onPublish, onRestore, onClose }) {
  const [versions, setVersions] = useState(null);
  const [picked, setPicked] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    api.get(urls.versions).then(setVersions).catch((e) => setErr(e.message));
  }, [api, urls.versions, current]);
  const pick = async (v) => {
    setPicked({ ...v, loading: true });
    try {
      const full = await api.get(`${urls.versions}${v.number}/`);
      setPicked({ ...v, spec: full.spec, diff: diffSummary(currentSpec(), full.spec) });
    } catch (e) { setErr(e.message); }
  };
  return (
    <div className="kz-inspector kz-history">
      <div className="kz-inspector-head">
        <span className="kz-node-icon"><Icon name="clock" size={18} /></span>
        <div><div className="kz-inspector-title">Version history</div><div className="muted kz-small">Every save is a version; triggers and schedules run the published one{published ? ` (v${published})` : " (none yet)"}.</div></div>
        <button type="button" className="btn btn-ghost btn-sm kz-close" onClick={onClose} title="Close">✕</button>
      </div>
      {err && <div className="kz-issue-box">{err}</div>}
      {!versions && !err && <p className="muted">Loading…</p>}
      <ul className="kz-versions">
        {(versions || []).map((v) => (
          <li key={v.number} className={picked?.number === v.number ? "picked" : ""}>
            <button type="button" onClick={() => pick(v)} data-version={v.number}>
              <strong>v{v.number}</strong>{v.number === current && <span className="badge">current</span>}
              {v.number === published && <span className="badge badge-ok" data-testid="published-version">published</span>}
              <span className="muted"> · {v.created_by || "—"} · {ago(v.created_at)}</span>
              {v.message && <div className="kz-small">{v.message}</div>}
            </button>
            {picked?.number === v.number && (
              <div className="kz-version-detail">
                {picked.loading ? <p className="muted">Loading…</p> : (
                  <>
                    <div className="kz-small muted">Compared with the canvas, v{v.number} has:</div>
                    <ul className="kz-diff">{picked.diff.map((l) => <li key={l}>{l}</li>)}</ul>
                    <button type="button" className="btn btn-primary btn-sm" onClick={() => onRestore(v.number)}>Restore v{v.number} as a new version</button>
                    {v.number !== published && (
                      <button type="button" className="btn btn-sm" data-testid="publish-version" title="Triggers and schedules will run this version"
                        onClick={() => onPublish(v.number)}>Publish v{v.number}</button>
                    )}
                  </>
                )}
              </div>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Which side panels and the minimap are shown: [show, toggle(name)]. What the user toggled is
 * remembered in this browser; the rest follows `defaults` (the editor hides the minimap of a big graph
 * by default: it redraws every node on every frame of a pan). */
export function usePanelPrefs(defaults = {}) {
  const [show, setShow] = useState(() => ({ ...PANEL_DEFAULTS, ...defaults, ...storedPrefs() }));
  const toggle = useCallback((what) => setShow((s) => {
    try { localStorage.setItem("kaizen-panels", JSON.stringify({ ...storedPrefs(), [what]: !s[what] })); } catch { /* private mode */ }
    return { ...s, [what]: !s[what] };
  }), []);
  return [show, toggle];
}
function storedPrefs() {
  try { return JSON.parse(localStorage.getItem("kaizen-panels") || "{}") || {}; } catch { return {}; }
}
const PANEL_DEFAULTS = { palette: true, side: true, minimap: true };
