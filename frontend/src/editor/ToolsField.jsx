// An agent's tools (x-kaizen-widget: tools): HTTP tools as JSON, and MCP servers' tools listed
// from the server (GET /api/mcp-servers/{name}/tools/, asked through the SSRF guard) and enabled
// one by one with their argument schemas shown.
import { useEffect, useState } from "react";

async function getJson(url) {
  const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) throw new Error(data?.detail || `request failed (${res.status})`);
  return data;
}

function argsOf(schema) {
  const props = Object.keys(schema?.properties || {});
  const req = new Set(schema?.required || []);
  return props.map((p) => (req.has(p) ? p : `${p}?`)).join(", ");
}

/** Entries of ``tools`` for one MCP server: its enabled tool names (others' entries untouched). */
export function withMcpTool(tools, server, tool, on) {
  const list = Array.isArray(tools) ? tools.map((t) => ({ ...t })) : [];
  const at = list.findIndex((t) => t && t.type === "mcp" && t.server === server);
  const names = new Set(at >= 0 ? list[at].tools || [] : []);
  if (on) names.add(tool); else names.delete(tool);
  if (at >= 0 && names.size === 0) list.splice(at, 1);
  else if (at >= 0) list[at].tools = [...names];
  else if (names.size) list.push({ type: "mcp", server, tools: [...names] });
  return list;
}

export function McpPicker({ value, onChange }) {
  const [servers, setServers] = useState(null);
  const [server, setServer] = useState("");
  const [listing, setListing] = useState(null);
  const [problem, setProblem] = useState("");
  useEffect(() => {
    getJson("/api/mcp-servers/").then((s) => { setServers(s); if (s.length) setServer(s[0].name); })
      .catch((e) => setProblem(e.message));
  }, []);
  const enabled = new Set(((value || []).find((t) => t && t.type === "mcp" && t.server === server) || {}).tools || []);
  const list = async () => {
    setProblem(""); setListing(null);
    try { setListing((await getJson(`/api/mcp-servers/${encodeURIComponent(server)}/tools/`)).tools); }
    catch (e) { setProblem(e.message); }
  };
  if (servers && !servers.length) {
    return <p className="kz-help" data-testid="mcp-none">No MCP server connections yet (POST /api/mcp-servers/ with a name and URL).</p>;
  }
  return (
    <div className="kz-mcp" data-testid="mcp-picker">
      <div className="kz-mcp-head">
        <select value={server} onChange={(e) => { setServer(e.target.value); setListing(null); }} aria-label="MCP server">
          {(servers || []).map((s) => <option key={s.name} value={s.name}>{s.name}</option>)}
        </select>
        <button type="button" className="btn btn-sm" onClick={list} disabled={!server} data-testid="mcp-list">List tools</button>
      </div>
      {problem && <span className="field-error">{problem}</span>}
      {listing && listing.map((t) => (
        <label key={t.name} className="kz-mcp-tool" data-tool={t.name}>
          <input type="checkbox" checked={enabled.has(t.name)} onChange={(e) => onChange(withMcpTool(value, server, t.name, e.target.checked))} />
          <span><strong>{t.name}</strong>({argsOf(t.input_schema)}){t.read_only ? " · read-only" : ""}
            {t.description && <span className="kz-help">{t.description}</span>}</span>
        </label>
      ))}
    </div>
  );
}
