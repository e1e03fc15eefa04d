// Human nodes on the run page: a form per waiting node (approval: Approve / Reject with a
// comment; input: fields from the node's JSON Schema), answered with fetch (no reload), field
// errors from the server shown next to their fields. And the node panel's Re-run / Fork buttons.
// run_live.js calls KaizenHuman.show / .answered / .clear as events arrive.
(function () {
  "use strict";
  const box = document.getElementById("waiting-box");
  const list = document.getElementById("waiting-forms");
  const cfgEl = document.getElementById("run-config");
  if (!cfgEl) return;
  const cfg = JSON.parse(cfgEl.textContent);

  function csrf() {
    const input = document.querySelector("[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids) if (kid) e.append(kid);
    return e;
  }

  async function post(url, body) {
    const resp = await fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
    });
    let data = {};
    try { data = await resp.json(); } catch (_) { /* not JSON */ }
    return { ok: resp.ok, status: resp.status, data };
  }

  // One input per top-level property of the form's JSON Schema.
  function field(name, prop, required) {
    const label = (prop.title || name) + (required ? "" : " (optional)");
    const wrap = el("label", { class: "field", "data-field": name }, label);
    let control, read;
    if (Array.isArray(prop.enum)) {
      control = el("select", { name });
      if (!required) control.append(el("option", { value: "", text: "—" }));
      for (const v of prop.enum) control.append(el("option", { value: JSON.stringify(v), text: String(v) }));
      read = () => (control.value === "" ? undefined : JSON.parse(control.value));
    } else if (prop.type === "boolean") {
      control = el("input", { type: "checkbox", name });
      wrap.classList.add("check");
      read = () => control.checked;
    } else if (prop.type === "integer" || prop.type === "number") {
      control = el("input", { type: "number", name, step: prop.type === "integer" ? "1" : "any", min: prop.minimum, max: prop.maximum });
      read = () => (control.value === "" ? undefined : Number(control.value));
    } else if (prop.type === "string" || prop.type === undefined) {
      const long = prop.format === "textarea" || (prop.maxLength || 0) > 200;
      control = long ? el("textarea", { name, rows: "3" }) : el("input", { type: "text", name });
      read = () => (control.value === "" && !required ? undefined : control.value);
    } else {  // objects and lists: JSON
      control = el("textarea", { name, rows: "3", placeholder: prop.type === "array" ? "[ ]" : "{ }" });
      read = () => { if (control.value.trim() === "") return undefined; try { return JSON.parse(control.value); } catch (_) { return control.value; } };
    }
    if (prop.description) wrap.append(el("span", { class: "muted", text: " " + prop.description }));
    wrap.append(control);
    return { name, wrap, read };
  }

  function showErrors(form, errors) {
    for (const f of form.querySelectorAll(".field")) { f.classList.remove("has-error"); f.querySelector(".field-error")?.remove(); }
    const general = form.querySelector("[data-answer-error]");
    general.hidden = true;
    const rest = [];
    for (const e of errors) {
      const name = (e.path || "").replace(/^answer\.?/, "").split(/[.[]/)[0];
      const f = name && form.querySelector('[data-field="' + CSS.escape(name) + '"]');
      if (f) { f.classList.add("has-error"); f.append(el("span", { class: "field-error", text: e.message })); }
      else rest.push((e.path ? e.path + ": " : "") + e.message);
    }
    if (rest.length) { general.textContent = rest.join("; "); general.hidden = false; }
  }

  function due(req) {
    if (!req.due_at) return null;
    const when = new Date(req.due_at * 1000);
    return el("p", { class: "due", text: "If nobody answers by " + when.toLocaleString() + ": " + (req.on_timeout || "fail") + "." });
  }

  // graphs/assignees.py designates(): admins always; no assignees = whoever may run the graph;
  // else the members named (username, or email in any case) and those holding a named role or above.
  function mayAnswer(req) {
    const me = cfg.answerer || {};
    if (!me.role) return false;
    if (me.role >= me.admin) return true;
    const assignees = req.assignees || [];
    if (!assignees.length) return me.role >= me.runner;
    return assignees.some((a) => a.startsWith("role:") ? me.role >= ((me.roles || {})[a.slice(5)] || Infinity)
      : a === me.username || (me.email && a.toLowerCase() === me.email));
  }

  // Who is asked, in words (graphs/assignees.py describe() says it the same way for the page).
  function asked(req) {
    const assignees = req.assignees || [];
    if (req.asked !== undefined) return req.asked;
    const people = assignees.filter((a) => !a.startsWith("role:"));
    const roles = assignees.filter((a) => a.startsWith("role:")).map((a) => a.slice(5))
      .map((r) => (/^[aeiou]/.test(r) ? "an " : "a ") + r + (r === "admin" ? "" : " or above"));
    const names = [...people, ...roles];
    return names.length > 1 ? names.slice(0, -1).join(", ") + " or " + names[names.length - 1] : (names[0] || "");
  }

  function show(nodeId, req) {
    if (!list || !req) return;
    for (const old of list.querySelectorAll("[data-answered]")) old.remove();  // parked again: the answered ones are history
    if (list.querySelector('[data-waiting-node="' + CSS.escape(nodeId) + '"]')) return;
    const card = el("div", { class: "human-form", "data-waiting-node": nodeId, "data-testid": "waiting-" + nodeId },
      el("div", { class: "muted" }, el("span", { class: "kind kind-" + req.kind, text: req.kind }), " " + nodeId),
      el("p", { class: "question", text: req.question || "Your answer is needed" }),
      el("p", { class: "asked muted", "data-testid": "asked-" + nodeId,
        text: "Asked: " + (asked(req) || "anyone who may run this graph") + (asked(req) ? " (or a workspace admin)" : "") }),
      due(req));
    if (req.inputs && Object.keys(req.inputs).length) {
      card.append(el("details", { open: true }, el("summary", { text: "What to look at" }),
        el("pre", { class: "code", text: JSON.stringify(req.inputs, null, 2) })));
    }
    const form = el("form", { "data-testid": "answer-form", novalidate: true });
    const fields = [];
    const note = el("p", { class: "field-error", "data-answer-error": true, role: "alert", hidden: true });
    const mine = req.may_answer !== undefined ? req.may_answer : mayAnswer(req);  // (the server said so on load)
    if (!mine) {
      card.append(el("p", { class: "muted", "data-testid": "not-yours", text: "This one is not yours to answer." }));
    } else if (req.kind === "approval") {
      const comment = field("comment", { type: "string", title: "Comment", maxLength: 4000 }, false);
      fields.push(comment);
      form.append(comment.wrap, el("div", { class: "actions" },
        el("button", { class: "btn btn-primary", type: "submit", value: "approve", "data-testid": "approve", text: "Approve" }),
        el("button", { class: "btn btn-danger", type: "submit", value: "reject", "data-testid": "reject", text: "Reject" })), note);
    } else {
      const schema = req.form || {};
      const required = new Set(schema.required || []);
      // (the stored schema's keys come back in the database's order: the required fields first, as
      // listed, then the others by name; "x-order" in the schema wins when given)
      const props = schema.properties || {};
      const order = Array.isArray(schema["x-order"]) ? schema["x-order"].filter((n) => n in props)
        : [...(schema.required || []).filter((n) => n in props), ...Object.keys(props).filter((n) => !required.has(n)).sort()];
      for (const name of [...order, ...Object.keys(props).filter((n) => !order.includes(n))]) {
        const prop = props[name];
        const f = field(name, prop || {}, required.has(name));
        fields.push(f);
        form.append(f.wrap);
      }
      form.append(el("div", { class: "actions" }, el("button", { class: "btn btn-primary", type: "submit", "data-testid": "send-answer", text: "Send answer" })), note);
    }
    if (mine) card.append(form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const answer = {};
      for (const f of fields) { const v = f.read(); if (v !== undefined) answer[f.name] = v; }
      if (req.kind === "approval") answer.action = (e.submitter && e.submitter.value) || "approve";
      if (req.kind === "approval" && answer.comment === undefined) answer.comment = "";
      for (const b of form.querySelectorAll("button")) b.disabled = true;
      let res;
      try {
        res = await post("/api/runs/" + cfg.run_id + "/answer/", { node: nodeId, answer });
      } catch (err) {
        res = { ok: false, data: { detail: "could not reach the server: " + err.message } };
      }
      if (res.ok) {  // (the run's human_answered event may have come first and said so already)
        if (form.isConnected) form.replaceWith(el("p", { class: "answered", "data-testid": "answered", text: "Answered — the run resumes." }));
        return;
      }
      for (const b of form.querySelectorAll("button")) b.disabled = false;
      showErrors(form, res.data.errors && res.data.errors.length ? res.data.errors : [{ path: "", message: res.data.detail || "the answer was refused" }]);
    });
    list.append(card);
    box.hidden = false;
  }

  // Someone answered (here, in another tab, by the API, or the timeout): the node's form goes;
  // the box stays until the run finishes or parks on another node.
  function answered(nodeId, by) {
    const card = list && list.querySelector('[data-waiting-node="' + CSS.escape(nodeId) + '"]');
    if (!card) return;
    const form = card.querySelector("form");
    const text = "Answered" + (by ? " by " + by : " (no answer in time: the default action)") + " — the run resumes.";
    if (form) form.replaceWith(el("p", { class: "answered", "data-testid": "answered", text }));
    card.dataset.answered = "";
  }

  function clear() {
    if (!list) return;
    list.replaceChildren();
    box.hidden = true;
  }

  // The run's waiting nodes as the server knows them (a live event may carry a truncated preview).
  async function refresh() {
    const resp = await fetch("/api/runs/" + cfg.run_id + "/", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) return;
    const run = await resp.json();
    for (const [nodeId, req] of Object.entries(run.waiting || {})) show(nodeId, req);
  }

  for (const [nodeId, req] of Object.entries(cfg.waiting || {})) show(nodeId, req);

  // Re-run from here / Fork (the node panel is loaded by htmx: listen on the document).
  document.addEventListener("submit", async (e) => {
    const form = e.target.closest("form[data-fork-action]");
    if (!form) return;
    e.preventDefault();
    const panel = form.closest(".node-actions");
    const note = panel.querySelector("[data-fork-error]");
    note.hidden = true;
    const body = { node: form.dataset.node };
    try {
      if (form.elements.inputs) body.inputs = JSON.parse(form.elements.inputs.value || "{}");
      if (form.elements.outputs) body.outputs = JSON.parse(form.elements.outputs.value || "{}");
    } catch (err) {
      note.textContent = "not valid JSON: " + err.message; note.hidden = false; return;
    }
    if (form.elements.version && form.elements.version.value) body.version = Number(form.elements.version.value);
    const res = await post(form.dataset.forkAction, body);
    if (res.ok && res.data.url) { window.location.assign(res.data.url); return; }
    const errors = (res.data.errors || []).map((x) => (x.path ? x.path + ": " : "") + x.message);
    note.textContent = (res.data.detail || "refused") + (errors.length ? " — " + errors.join("; ") : "");
    note.hidden = false;
  });

  window.KaizenHuman = { show, answered, clear, refresh };
})();
