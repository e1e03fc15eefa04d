// Live run viewer: replays stored events after the last seq we have, then streams live ones.
// The stream may drop messages (channels_redis is at-most-once); the server fills gaps from the
// database and we de-duplicate by seq, so the log always ends contiguous. Reconnects with backoff.
(function () {
  "use strict";
  const root = document.getElementById("run-live");
  if (!root) return;
  const cfg = JSON.parse(document.getElementById("run-config").textContent);
  const log = document.getElementById("event-log");
  const indicator = document.getElementById("ws-indicator");
  const filterNode = document.getElementById("filter-node");
  const filterType = document.getElementById("filter-type");
  const pauseBtn = document.getElementById("pause-log");
  const FINAL = new Set(["succeeded", "failed", "interrupted", "cancelled"]);
  const NOT_RUN = "not-run";  // a node a run that ended never reached (the engine's state is "pending")
  let lastSeq = cfg.last_seq;
  let paused = false;
  let attempts = 0;
  let socket = null;
  let finished = FINAL.has(cfg.status);
  const totals = { cost: cfg.cost_usd, tokens: cfg.tokens };

  function setIndicator(state, text) {
    indicator.dataset.state = state;
    indicator.textContent = text;
  }
  // Connected: "live" while the run can still send events, "finished" once it has ended (the socket
  // stays open, but nothing more will come: a pill reading "live" would say the run still runs).
  function showConnected() {
    if (finished) setIndicator("done", "finished");
    else setIndicator("live", "live");
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function visible(ev) {
    if (filterNode.value && ev.node_id !== filterNode.value) return false;
    if (filterType.value && ev.event !== filterType.value) return false;
    return true;
  }

  function appendEvent(ev) {
    const li = el("li");
    li.dataset.seq = ev.seq;
    li.dataset.node = ev.node_id || "";
    li.dataset.event = ev.event;
    li.append(el("span", "seq", String(ev.seq)), el("span", "ev ev-" + ev.event, ev.event));
    if (ev.node_id) li.append(el("span", "muted", " " + ev.node_id));
    const detail = summarize(ev);
    if (detail) li.append(el("span", "ev-detail", " " + detail));
    li.hidden = !visible(ev);
    log.append(li);
    while (log.children.length > 2000) log.firstElementChild.remove();
    if (!paused) log.scrollTop = log.scrollHeight;
  }

  function summarize(ev) {
    const d = ev.data || {};
    if (d.truncated) return "(large payload, " + d.bytes + " bytes)";
    if (ev.event === "post_llm_call" && d.cost_usd !== undefined) return d.model + " · " + (d.prompt_tokens + d.completion_tokens) + " tok · $" + Number(d.cost_usd).toFixed(6);
    if (ev.event === "pre_tool_call") {  // what the agent asked for, and where it goes (never a secret)
      return d.tool + "(" + JSON.stringify(d.arguments || {}) + ")" + (d.url ? " · " + d.method + " " + d.url : d.server ? " · MCP " + d.server : "")
        + (d.simulated ? " · simulated (dry run)" : "");
    }
    if (ev.event === "post_tool_call") {
      if (d.replayed) return d.tool + " · " + d.status + " · replayed from checkpoint";
      return d.tool + " · " + d.status + (d.http_status ? " " + d.http_status : "") + (d.duration_ms != null ? " · " + Math.round(d.duration_ms) + " ms" : "")
        + (d.bytes != null ? " · " + d.bytes + " B" : "") + (d.cut ? " (cut)" : "") + (d.cost_usd ? " · $" + Number(d.cost_usd).toFixed(6) : "")
        + (d.simulated ? " · simulated (dry run)" : "") + (d.error ? " · " + d.error : "");
    }
    if (ev.event === "on_error") return d.message || "";
    if (ev.event === "post_node") return d.status + (d.error && d.error.message && d.status !== "succeeded" ? ": " + d.error.message : "");
    if (ev.event === "llm_retry") return "attempt " + d.attempt + (d.error ? ": " + d.error : d.problem ? ": " + d.problem : "");
    if (ev.event === "node_skipped") return d.reason || "";
    if (ev.event === "run_finished") return d.status + (d.error && d.error.message ? ": " + d.error.message : "");
    if (ev.event === "node_waiting") return d.question || "";
    if (ev.event === "human_answered") return (d.answer && d.answer.action ? d.answer.action + " " : "") + (d.by ? "by " + d.by : d.source === "timeout" ? "(timeout: default action)" : "");
    if (ev.event === "interrupted" || ev.event === "cancelled") return d.message || "";
    if (ev.event === "fallback") return "→ " + d.handler + (d.error ? " (" + d.error + ")" : "");
    if (ev.event === "decision") {  // a router's route, or a fallback chain's level
      if (d.route !== undefined) return "→ " + (d.route === null ? "no route" : d.route);
      if (d.level !== undefined) return "level " + d.level + (d.model ? " · " + d.model : "") + (d.quality ? " · " + d.quality : "");
      return "";
    }
    return "";
  }

  // The editor's read-only canvas, when its bundle is there (the node table works without it).
  let canvas = null;
  const canvasEl = document.getElementById("run-canvas");
  if (window.KaizenCanvas && canvasEl && cfg.spec) {
    canvasEl.hidden = false;
    canvas = window.KaizenCanvas.mountViewer(canvasEl, {
      spec: cfg.spec, kinds: cfg.kinds, ports: cfg.ports, defaults: cfg.defaults, statuses: cfg.statuses,
      onNodeClick: (id) => window.htmx && window.htmx.ajax("GET", "/runs/" + cfg.run_id + "/nodes/" + encodeURIComponent(id) + "/", { target: "#node-detail" }),
    });
  }

  // Rows inside consensus (voters), fallback (levels) and plan-execute-verify (phases) nodes, lit
  // as their calls go; the page starts from the same fold made on the server (run_member_states).
  const kindOf = Object.fromEntries(((cfg.spec && cfg.spec.nodes) || []).map((n) => [n.id, n.kind]));
  const members = cfg.members || {};
  if (canvas && Object.keys(members).length) canvas.setMembers(members);

  // [member, state] pairs an event sets: calls are keyed r<round>/<voter>/<attempt>,
  // L<level>/<attempt> and i<iteration>/<phase>/<attempt> (graphs/engine/nodes).
  function memberChanges(kind, ev) {
    const d = ev.data || {};
    const parts = typeof d.key === "string" ? d.key.split("/") : [];
    const call = ev.event === "pre_llm_call" ? "running" : ev.event === "post_llm_call" ? "succeeded" : null;
    if (kind === "consensus" && call && /^r\d+$/.test(parts[0]) && parts.length >= 3) return [[parts.slice(1, -1).join("/"), call]];
    if (kind === "fallback") {
      if (ev.event === "pre_llm_call" && /^L\d+$/.test(parts[0])) return [[parts[0].slice(1), "running"]];
      if (ev.event === "fallback" && d.level) return [[String(d.level), "failed"]];
      if (ev.event === "decision" && d.level) return [[String(d.level), "succeeded"]];
    }
    if (kind === "pev") {
      if (call && /^i\d+$/.test(parts[0]) && parts.length >= 2) return [[parts[1], call]];
      if (ev.event === "decision" && d.accepted === false) return [["verify", "failed"]];
    }
    return [];
  }

  function applyMembers(ev) {
    const touched = {};
    const rows = (id) => (touched[id] = members[id] = members[id] || {});
    if (ev.event === "run_resumed") {  // what was in flight runs again
      for (const id of Object.keys(members)) {
        for (const [m, state] of Object.entries(members[id])) if (state === "running") delete rows(id)[m];
      }
    } else if (kindOf[ev.node_id]) {
      const changes = memberChanges(kindOf[ev.node_id], ev);
      if (ev.event === "post_node" && (ev.data || {}).status !== "succeeded") {
        for (const [m, state] of Object.entries(members[ev.node_id] || {})) if (state === "running") changes.push([m, "failed"]);
      }
      for (const [m, state] of changes) rows(ev.node_id)[m] = state;
    }
    if (canvas && Object.keys(touched).length) {
      canvas.setMembers(Object.fromEntries(Object.keys(touched).map((id) => [id, { ...members[id] }])));
    }
  }

  function rowOf(nodeId) {
    return root.querySelector('[data-node-row="' + CSS.escape(nodeId) + '"]');
  }

  // Natural order of node ids: each/2/worker before each/10/worker (as the server renders them).
  function naturalBefore(a, b) {
    const x = a.split("/"), y = b.split("/");
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] === y[i]) continue;
      const nx = /^\d+$/.test(x[i]), ny = /^\d+$/.test(y[i]);
      if (nx && ny) return Number(x[i]) < Number(y[i]);
      if (nx !== ny) return nx;
      return x[i] < y[i];
    }
    return x.length < y.length;
  }

  // A node of an inline subgraph (<node>/<key>/<child>: a for-each item, a budget guard's body)
  // gets its row when it first runs, among the nested rows under its top-level node.
  function nestedRow(nodeId, kind) {
    const top = rowOf(nodeId.split("/")[0]);
    if (!top) return null;
    let after = top;
    while (after.nextElementSibling && after.nextElementSibling.classList.contains("nested")
           && after.nextElementSibling.dataset.nodeRow.startsWith(top.dataset.nodeRow + "/")
           && naturalBefore(after.nextElementSibling.dataset.nodeRow, nodeId)) {
      after = after.nextElementSibling;
    }
    const depth = Math.min(Math.floor(nodeId.split("/").length / 2), 3);
    const row = document.createElement("tr");
    row.className = "clickable nested depth-" + depth;
    row.dataset.nodeRow = nodeId;
    row.dataset.state = "pending";
    row.setAttribute("hx-get", "/runs/" + cfg.run_id + "/nodes/" + nodeId.split("/").map(encodeURIComponent).join("/") + "/");
    row.setAttribute("hx-target", "#node-detail");
    const cell = (text, field) => {
      const td = document.createElement("td");
      if (field) td.dataset.field = field;
      td.textContent = text;
      return td;
    };
    const name = cell("");
    const mark = document.createElement("span"); mark.className = "nest-mark"; mark.textContent = "↳";
    const id = document.createElement("span"); id.className = "muted"; id.textContent = nodeId;
    name.append(mark, " " + nodeId.split("/").pop() + " ", id);
    const kindCell = cell("");
    if (kind) { const k = document.createElement("span"); k.className = "kind kind-" + kind; k.textContent = kind; kindCell.append(k); }
    const stateCell = cell("");
    const badge = document.createElement("span"); badge.dataset.nodeStatus = ""; stateCell.append(badge);
    row.append(name, kindCell, stateCell, cell("—", "attempt"), cell("—", "duration"), cell("0", "tokens"), cell("$0.000000", "cost"));
    after.after(row);
    if (window.htmx) window.htmx.process(row);
    return row;
  }

  function setNode(nodeId, status, extra) {
    if (canvas) canvas.setStatuses({ [nodeId]: status });
    let row = rowOf(nodeId);
    if (!row && nodeId.includes("/")) row = nestedRow(nodeId, extra && extra.kind);
    if (!row) return;
    const badge = row.querySelector("[data-node-status]");
    badge.className = "status status-" + status;
    badge.textContent = status === NOT_RUN ? "not run" : status;
    row.dataset.state = status;
    if (extra) {
      for (const [key, value] of Object.entries(extra)) {
        const cell = row.querySelector('[data-field="' + key + '"]');
        if (cell && value !== null && value !== undefined) cell.textContent = value;
      }
    }
  }

  function setRunStatus(status) {
    const badge = document.querySelector("[data-testid=run-status]");
    badge.className = "status status-" + status;
    badge.textContent = status;
    root.dataset.status = status;
    syncActions(status);
  }

  // Cancel while queued or running; Resume once it stopped short (as the server allows).
  function syncActions(status) {
    const cancel = document.querySelector("[data-testid=cancel]");
    const resume = document.querySelector("[data-testid=resume]");
    if (cancel) cancel.disabled = !(status === "queued" || status === "running" || status === "waiting");
    if (resume) resume.disabled = !(status === "failed" || status === "interrupted" || status === "cancelled");
    for (const b of document.querySelectorAll("#tool-decision button")) b.disabled = status !== "interrupted";
  }

  function renderTotals() {
    document.querySelector("[data-testid=run-cost]").textContent = "$" + totals.cost.toFixed(6);
    document.querySelector("[data-testid=run-tokens]").textContent = String(totals.tokens);
    const bar = document.getElementById("budget-bar");
    if (bar && cfg.budget_usd) bar.value = Math.min(totals.cost, cfg.budget_usd);
  }

  // The run's outputs (a succeeded run's only: a failed run has none) and its error (the message as
  // text, the raw detail folded away). Drawn from run_finished live, and from the same fields on load.
  function renderFinal(d) {
    const outBox = document.getElementById("run-outputs-box");
    const showOutputs = d.status === "succeeded" && d.outputs != null;
    document.getElementById("run-outputs").textContent = showOutputs ? JSON.stringify(sortedKeys(d.outputs), null, 2) : "";
    outBox.hidden = !showOutputs;
    const errBox = document.getElementById("run-error-box");
    const err = d.error;
    errBox.hidden = !err;
    document.querySelector("[data-testid=run-error-message]").textContent = err ? (err.message || err.type || "error") : "";
    document.getElementById("run-error-detail").textContent = err ? JSON.stringify(sortedKeys(err), null, 2) : "";
    // interrupted during a tool call that is not idempotent: Resume asks whether to retry or skip it
    const toolCall = d.status === "interrupted" && err && err.type === "tool_interrupted";
    const decision = document.getElementById("tool-decision");  // (absent for a role that may not resume)
    if (decision) {
      decision.hidden = !toolCall;
      document.getElementById("resume-form").hidden = toolCall;
      document.getElementById("tool-decision-call").textContent = toolCall ? err.tool + " was in flight:" : "";
    }
  }

  // The database (jsonb) keeps object keys in its own order: sort them so live and load read alike.
  function sortedKeys(value) {
    if (Array.isArray(value)) return value.map(sortedKeys);
    if (value && typeof value === "object") return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortedKeys(value[k])]));
    return value;
  }

  // A run that ended never reached its pending nodes: "not run" (the page loaded after the end
  // says the same); a resumed run may reach them again.
  function markNotRun(ended) {
    for (const row of root.querySelectorAll("[data-node-row]")) {
      if (ended && row.dataset.state === "pending") setNode(row.dataset.nodeRow, NOT_RUN);
      else if (!ended && row.dataset.state === NOT_RUN) setNode(row.dataset.nodeRow, "pending");
    }
  }

  // A new claim (resume, handoff): what was in flight under the old one runs again or is restored.
  function resetInFlight() {
    for (const row of root.querySelectorAll("[data-node-row]")) {
      if (row.dataset.state === "running" || row.dataset.state === "retrying") setNode(row.dataset.nodeRow, "pending");
    }
  }

  // Streamed answers of the calls in flight, per node and call key: ephemeral "tokens" frames
  // (never stored, never replayed). Each piece says where it starts in the attempt's text: 0 again
  // is a retry starting over; a piece past the end follows a dropped frame (marked with "…").
  // A call's stream ends with its post_llm_call; the panel then shows the stored call instead.
  const streams = new Map();  // node id -> Map(key -> {text, end: the offset after the last piece})
  const ended = new Set();  // node id + "\u0000" + key: calls whose answer is stored
  const STREAM_MAX = 200000;

  function onTokens(c) {
    if (ended.has(c.node_id + "\u0000" + c.key)) return;  // (a late frame)
    if (!streams.has(c.node_id)) streams.set(c.node_id, new Map());
    const calls = streams.get(c.node_id);
    const s = calls.get(c.key) || { text: "", end: 0 };
    if (c.offset === 0) s.text = c.text;  // the start (again, if a retry started over)
    else if (c.offset === s.end) s.text += c.text;
    else s.text += " … " + c.text;  // (joined mid-answer, or a frame was dropped)
    s.end = c.offset + c.text.length;
    if (s.text.length > STREAM_MAX) s.text = s.text.slice(0, STREAM_MAX);
    calls.set(c.key, s);
    renderStreams(c.node_id);
  }

  function openPanel(nodeId) {
    const box = document.querySelector("#node-detail [data-live-calls]");
    return box && box.dataset.liveCalls === nodeId ? box : null;
  }

  function renderStreams(nodeId) {
    const box = openPanel(nodeId);
    if (!box) return;
    const calls = streams.get(nodeId) || new Map();
    for (const block of box.querySelectorAll("[data-stream-key]")) {
      if (!calls.has(block.dataset.streamKey)) block.remove();
    }
    for (const [key, { text }] of calls) {
      let block = box.querySelector('[data-stream-key="' + CSS.escape(key) + '"]');
      if (!block) {
        block = el("div", "stream");
        block.dataset.streamKey = key;
        // (named like the stored calls: "#0" is the node's first call)
        const head = el("h4", null, "LLM call " + (/^#\d+$/.test(key) ? Number(key.slice(1)) + 1 : key) + " ");
        head.append(el("span", "muted", "streaming…"));
        const pre = el("pre", "code");
        pre.dataset.testid = "stream-text";
        block.append(head, pre);
        box.append(block);
      }
      const pre = block.querySelector("pre");
      const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent = text;
      if (follow) pre.scrollTop = pre.scrollHeight;
    }
  }

  // The open panel again from the server (a call's answer stored, the node done).
  function refreshPanel(nodeId) {
    if (!openPanel(nodeId) || !window.htmx) return;
    const path = nodeId.split("/").map(encodeURIComponent).join("/");
    window.htmx.ajax("GET", "/runs/" + cfg.run_id + "/nodes/" + path + "/", { target: "#node-detail" });
  }

  function endStream(nodeId, key) {
    ended.add(nodeId + "\u0000" + key);
    const calls = streams.get(nodeId);
    if (calls) calls.delete(key);
    refreshPanel(nodeId);
  }

  document.addEventListener("htmx:afterSwap", (e) => {
    const box = e.target && e.target.querySelector && e.target.querySelector("[data-live-calls]");
    if (box) renderStreams(box.dataset.liveCalls);
  });

  function apply(ev) {
    const d = ev.data || {};
    switch (ev.event) {
      case "run_started": case "run_resumed":
        if (ev.event === "run_resumed") { resetInFlight(); markNotRun(false); streams.clear(); ended.clear(); }
        setRunStatus("running");
        renderFinal({ status: "running" });
        if (!cfg.started_at) cfg.started_at = ev.ts;
        break;
      case "pre_node": setNode(ev.node_id, "running", { attempt: d.attempt, kind: d.kind }); break;
      case "llm_retry": setNode(ev.node_id, "retrying"); break;
      case "node_skipped": setNode(ev.node_id, "skipped", { kind: d.kind }); break;
      case "node_restored": setNode(ev.node_id, d.status || "succeeded"); break;
      case "post_llm_call":
        if (ev.node_id && d.key !== undefined) endStream(ev.node_id, d.key);
        if (d.cost_usd !== undefined && !d.replayed) {
          totals.cost += d.cost_usd; totals.tokens += (d.prompt_tokens || 0) + (d.completion_tokens || 0); renderTotals();
        }
        break;
      case "post_node":
        if (streams.delete(ev.node_id)) refreshPanel(ev.node_id);
        setNode(ev.node_id, d.status, {
          attempt: d.attempt || null, // (a page that opened after pre_node learns it here; 0 stays "—")
          duration: d.duration_ms != null ? Math.round(d.duration_ms) + " ms" : null,
          tokens: (d.prompt_tokens || 0) + (d.completion_tokens || 0),
          cost: "$" + Number(d.cost_usd || 0).toFixed(6),
        });
        break;
      case "node_waiting": {
        const human = window.KaizenHuman;
        if (!human) break;
        if (d.truncated && d.url) fetch(d.url, { credentials: "same-origin" }).then((r) => r.json()).then((full) => human.show(ev.node_id, full.data));
        else human.show(ev.node_id, d);
        break;
      }
      case "human_answered":
        if (window.KaizenHuman) window.KaizenHuman.answered(ev.node_id, d.by);
        break;
      case "run_waiting":  // parked: nothing runs until someone answers
        setRunStatus("waiting");
        if (window.KaizenHuman) window.KaizenHuman.refresh();
        break;
      case "run_finished":
        if (window.KaizenHuman) window.KaizenHuman.clear();
        setRunStatus(d.status);
        if (d.status === "succeeded" || d.status === "failed" || d.status === "cancelled") markNotRun(true);
        totals.cost = d.cost_usd || totals.cost; totals.tokens = (d.prompt_tokens || 0) + (d.completion_tokens || 0); renderTotals();
        finished = true;
        if (socket && socket.readyState === WebSocket.OPEN) showConnected();
        if (cfg.started_at) {
          const secs = (Date.parse(ev.ts) - Date.parse(cfg.started_at)) / 1000;
          document.querySelector("[data-testid=run-duration]").textContent = secs.toFixed(2) + " s";
        }
        renderFinal(d);
        break;
    }
  }

  function onEvent(ev) {
    if (ev.seq <= lastSeq) return; // duplicate (replay overlap): already shown
    lastSeq = ev.seq;
    apply(ev);
    applyMembers(ev);
    appendEvent(ev);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/runs/" + cfg.run_id + "/?after=" + lastSeq);
    setIndicator("connecting", attempts ? "reconnecting…" : "connecting…");
    socket.onopen = () => { attempts = 0; showConnected(); };
    socket.onmessage = (msg) => {
      const data = JSON.parse(msg.data);
      if (data.type === "events") data.events.forEach(onEvent);
      else if (data.type === "tokens") data.chunks.forEach(onTokens);
    };
    socket.onclose = (e) => {
      if (e.code === 4403 || e.code === 4404) { setIndicator("error", e.code === 4403 ? "no access" : "not found"); return; }
      if (finished && e.wasClean) { setIndicator("done", "finished"); return; }
      if (root.dataset.status === "waiting" && e.wasClean) { setIndicator("done", "waiting"); return; }
      attempts += 1;
      const delay = Math.min(10000, 250 * 2 ** Math.min(attempts, 6)) * (0.75 + Math.random() / 2);
      setIndicator("reconnecting", "reconnecting in " + (delay / 1000).toFixed(1) + " s");
      setTimeout(connect, delay);
    };
  }

  // exposed for tests and the console: drop the connection as a flaky network would
  window.kaizenRunLive = { drop: () => socket && socket.close(), lastSeq: () => lastSeq };

  pauseBtn.addEventListener("click", () => {
    paused = !paused;
    pauseBtn.textContent = paused ? "Follow" : "Pause";
    if (!paused) log.scrollTop = log.scrollHeight;
  });
  for (const f of [filterNode, filterType]) {
    f.addEventListener("change", () => {
      for (const li of log.children) li.hidden = !visible({ node_id: li.dataset.node || null, event: li.dataset.event });
    });
  }
  // Cancel and Resume without leaving the page: the events that follow tell what happened.
  for (const form of document.querySelectorAll("form[data-run-action]")) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const button = e.submitter || form.querySelector("button");
      const body = new FormData(form, e.submitter);  // (before the button is disabled: a disabled submitter is left out)
      const note = document.getElementById("run-action-error");
      button.disabled = true;
      note.hidden = true;
      try {
        const resp = await fetch(form.action, { method: "POST", body, headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!resp.ok) {
          let text = resp.statusText;
          try { text = (await resp.json()).error || text; } catch (_) { text = (await resp.text()) || text; }
          note.textContent = text; note.hidden = false;
          syncActions(root.dataset.status);
        } else if (form.action.endsWith("/resume/")) {  // the stream closed when the run ended: listen again
          finished = false;
          if (form.id === "tool-decision") { form.hidden = true; document.getElementById("resume-form").hidden = false; }
          if (!socket || socket.readyState > 1) connect();
          else if (socket.readyState === WebSocket.OPEN) showConnected();
        }
      } catch (err) {
        note.textContent = "could not reach the server: " + err.message; note.hidden = false;
        syncActions(root.dataset.status);
      }
    });
  }

  // The page's events (up to the seq it was rendered at) listed as live ones are; the node rows,
  // status and totals come rendered from the same state the events built.
  for (const ev of cfg.events || []) appendEvent(ev);
  if (cfg.final) renderFinal(cfg.final);
  log.scrollTop = log.scrollHeight;
  connect();
})();
