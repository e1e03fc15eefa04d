"""Server-rendered pages (htmx for partial updates)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from kaizen_web.htmx import HtmxHttpRequest
from workspaces.current import current_workspace, follow
from workspaces.permissions import abilities, get_for, role_of

from .. import assignees, selectors, services
from ..api.throttles import RunStartThrottle
from ..engine.hooks import HookEvent
from ..engine.money import usd
from ..engine.nodes import registry
from ..engine.schema import GraphSpec
from ..engine.validate import check_document
from ..models import Graph, Run
from .editor import kind_defaults


# Objects outside the user's workspaces answer 404 as missing ones (ids cannot be enumerated);
# a member whose role is too low for the action gets 403.
def _graph(request: HttpRequest, pk: int, action: str = "view") -> Graph:
    return get_for(request.user, Graph, pk, action)


def _run(request: HttpRequest, pk: int, action: str = "view") -> Run:
    return get_for(request.user, Run.objects.select_related("graph", "version", "created_by"), pk, action)


@login_required
def graph_list(request: HttpRequest) -> HttpResponse:
    workspace = current_workspace(request)
    graphs = selectors.graphs_visible(request.user).filter(workspace=workspace)
    return render(request, "graphs/list.html", {"graphs": graphs, "workspace": workspace})


@login_required
def graph_detail(request: HttpRequest, pk: int) -> HttpResponse:
    graph = _graph(request, pk)
    follow(request, graph.workspace_id)
    version = selectors.graph_latest(graph)
    spec = GraphSpec.model_validate(version.spec)
    runs = graph.runs.select_related("created_by", "version")[:20]
    return render(request, "graphs/detail.html", {
        "graph": graph, "version": version, "spec": spec, "runs": runs, "can": abilities(getattr(graph, "kaizen_role", None)),  # (get_for's annotation)
        "versions": graph.versions.select_related("created_by")[:20],
        "spec_json": json.dumps(version.spec, indent=2),
        # the diagram, read-only (static/build/editor's viewer, as on the run page)
        "viewer_config": {"mode": "viewer", "spec": version.spec, "kinds": registry.describe(), "defaults": kind_defaults(),
                          "ports": check_document(version.spec)["ports"]},
    })


def _too_many_runs(request: HttpRequest) -> HttpResponse | None:
    """The API's run-start rate (KAIZEN_THROTTLE_RUNS) applies to the pages' buttons too."""
    throttle = RunStartThrottle()
    if throttle.allow_request(request, None):
        return None
    wait = int(throttle.wait())  # (whole seconds, at least 1: throttles.retry_after)
    response = HttpResponse(f"Too many runs started; try again in {wait} s.", status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(wait)
    return response


@login_required
@require_POST
def graph_run(request: HttpRequest, pk: int) -> HttpResponse:
    graph = _graph(request, pk, "run")
    if limited := _too_many_runs(request):
        return limited
    spec = GraphSpec.model_validate(selectors.graph_latest(graph).spec)
    inputs = {}
    for name, field in spec.inputs.items():
        raw = request.POST.get(f"input_{name}", "")
        if raw == "" and not field.required:
            continue
        if field.type == "string":
            inputs[name] = raw
        else:
            try:
                inputs[name] = json.loads(raw)
            except ValueError:
                messages.error(request, f"input {name}: not valid JSON for type {field.type}")
                return redirect("graph-detail", pk=pk)
    try:
        run = services.run_start(graph=graph, user=request.user, inputs=inputs, dry_run=bool(request.POST.get("dry_run")),
                                   origin=Run.Origin.PAGE)
    except services.ServiceError as exc:
        messages.error(request, "; ".join(f"{i.path}: {i.message}" for i in exc.issues) or str(exc))
        return redirect("graph-detail", pk=pk)
    return redirect("run-detail", pk=run.pk)


@login_required
@require_POST
def graph_publish(request: HttpRequest, pk: int) -> HttpResponse:
    """Publish a saved version (triggers and schedules run it); the page's Versions list posts here."""
    graph = _graph(request, pk, "edit")
    number = request.POST.get("number", "")
    try:
        services.graph_publish(graph=graph, user=request.user, number=int(number) if number.isdigit() and len(number) < 10 else -1)
        messages.success(request, f"Version {number} is published: triggers and schedules run it.")
    except services.ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("graph-detail", pk=pk)


@login_required
def run_list(request: HtmxHttpRequest) -> HttpResponse:
    runs = selectors.runs_visible(request.user)
    if request.GET.get("waiting") == "me":  # "Waiting for you": parked runs this user may answer, in any
        runs = runs.filter(pk__in=selectors.runs_waiting_for(request.user).values("pk"))  # of their workspaces
    else:
        runs = runs.filter(graph__workspace=current_workspace(request))
    if request.GET.get("status"):
        runs = runs.filter(status=request.GET["status"])
    if request.GET.get("graph"):
        graph_id = request.GET["graph"]
        runs = runs.filter(graph_id=int(graph_id)) if graph_id.isdigit() and len(graph_id) < 19 else runs.none()
    page = Paginator(runs, 25).get_page(request.GET.get("page"))
    template = "runs/_rows.html" if request.htmx else "runs/list.html"
    any_active = any(r.status in Run.ACTIVE for r in page.object_list)  # rows refresh while runs move
    # the pager's links keep every filter (status, graph), only the page changes
    kept = request.GET.copy()
    kept.pop("page", None)
    return render(request, template, {"page": page, "statuses": Run.Status.values, "filters": request.GET,
                                      "filter_query": kept.urlencode(), "any_active": any_active})


EVENT_PAGE = 500


def _natural(node_id: str) -> list[tuple[int, int | str]]:
    return [(0, int(part)) if part.isdigit() else (1, part) for part in node_id.split("/")]


NOT_RUN = "not-run"  # (a display state: the engine's is "pending")
ENDED = (Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.CANCELLED)


RUN_ROW = [f.attname for f in Run._meta.concrete_fields if not f.is_relation]


def _run_context(run: Run, user=None) -> dict:
    spec = GraphSpec.model_validate(run.version.spec)
    # The seq first, then the states and the run's own row: they are at least as new as the events
    # the page lists (a state and its events commit together, the run's end with run_finished), and
    # the stream's later events only move them on. (A row read before the seq could say "running"
    # beside a seq that already includes run_finished: the stream, starting after that seq, would
    # never say the run ended, and the page would show it running for good.)
    last_seq = selectors.run_last_seq(run)
    if run.status in Run.ACTIVE:
        run.refresh_from_db(fields=RUN_ROW)  # (its own columns: the version and graph loaded with it stay)
    states = selectors.run_node_states(run)
    # A node in flight has no saved state yet: its events say it runs (as run_live.js shows it).
    in_flight = {nid: status for nid, status in selectors.run_node_statuses_from_events(run, last_seq).items()
                 if status in ("running", "retrying")} if run.status in Run.ACTIVE else {}
    # Nodes of inline subgraphs (for-each items, budget guards, PEV), named <node>/<key>/<child>,
    # go below their top-level node in natural order (item 2 before item 10), as run_live.js does.
    nested: dict[str, list[str]] = {}
    for nid in sorted({i for i in [*states, *in_flight] if "/" in i}, key=_natural):
        nested.setdefault(nid.split("/", 1)[0], []).append(nid)
    nested_kinds = selectors.run_nested_node_kinds(run) if nested else {}
    nodes = []
    for node in spec.nodes:
        nodes.append({"id": node.id, "kind": node.kind, "label": node.label or node.id, "depth": 0,
                      **selectors.node_state_summary(states.get(node.id, {}))})
        for nid in nested.get(node.id, []):
            nodes.append({"id": nid, "kind": nested_kinds.get(nid, ""), "label": nid.rsplit("/", 1)[-1],
                          "depth": min(nid.count("/") // 2, 3), **selectors.node_state_summary(states.get(nid, {}))})
    for n in nodes:
        if n["status"] == "pending" and n["id"] in in_flight:
            n["status"] = in_flight[n["id"]]
        # a run that ended (a failed or cancelled one may still be resumed) never reached these:
        # "not run", not "pending" as if they were still to come (run_live.js marks them so on
        # run_finished); an interrupted or waiting run's are still to come
        if n["status"] == "pending" and run.status in ENDED:
            n["status"] = NOT_RUN
    # The page lists events up to the seq it was rendered at, and the websocket sends those after
    # it: no event is listed twice, none is missed (the bound is the same number for both).
    events = [event_for_page(e) for e in selectors.run_events_between(run, max(0, last_seq - EVENT_PAGE), last_seq)]
    waiting = selectors.run_waiting_nodes(run)
    role = role_of(user, run.graph.workspace_id) if user is not None else None
    for request in waiting.values():  # who is asked, and whether it is this user
        request["asked"] = assignees.describe(request.get("assignees") or [])
        request["may_answer"] = assignees.designates(request.get("assignees") or [], user, role)
    may_answer = any(r["may_answer"] for r in waiting.values())
    return {
        "waiting": waiting, "may_answer": may_answer, "can": abilities(role),
        "forks": list(run.forks.order_by("id").values("id", "forked_from_node", "fork_edits")[:50]),
        "budget_text": usd(float(run.budget_usd)) if run.budget_usd else "",
        "run": run, "nodes": nodes, "events_truncated": last_seq > EVENT_PAGE,
        "event_types": [e.value for e in HookEvent],
        "tool_interrupted": run.status == Run.Status.INTERRUPTED and (run.error or {}).get("type") == "tool_interrupted",
        "live_config": {"run_id": run.pk, "last_seq": last_seq, "status": run.status,
                        "started_at": run.started_at.isoformat() if run.started_at else None,
                        "spec": run.version.spec, "kinds": registry.describe(), "defaults": kind_defaults(),
                        "ports": check_document(run.version.spec)["ports"],
                        # nested nodes too: the canvas lights an expanded subgraph's nodes
                        "statuses": {n["id"]: n["status"] for n in nodes},
                        "members": selectors.run_member_states(run, {n.id: n.kind for n in spec.nodes}, last_seq),
                        "cost_usd": float(run.cost_usd), "tokens": run.total_tokens,
                        "budget_usd": float(run.budget_usd) if run.budget_usd else None,
                        "events": events,
                        # human nodes waiting for an answer (run_human.js draws their forms)
                        "waiting": waiting, "may_answer": may_answer,
                        "answerer": assignees.identity(user, role),
                        # drawn by run_live.js exactly as a live run_finished event draws them
                        "final": {"status": run.status, "outputs": run.outputs, "error": run.error}
                        if run.status not in Run.ACTIVE else None},
    }


# What the event log shows of an event's data (run_live.js summarize()); the rest (prompts,
# inputs) stays out of the page and is one click away in a node's panel.
EVENT_KEYS = ("status", "message", "type", "model", "cost_usd", "prompt_tokens", "completion_tokens", "route",
              "level", "quality", "truncated", "bytes", "error", "replayed", "attempt", "kind", "endpoint", "setting",
              "reason", "handler", "wait_s", "problem", "key", "accepted", "iteration",
              "tool", "duration_ms", "http_status", "method", "url", "server", "arguments", "cut")


def event_for_page(e) -> dict:
    data = e.data if isinstance(e.data, dict) else {}
    return {"seq": e.seq, "event": e.event, "node_id": e.node_id or None, "ts": e.created_at.isoformat(),
            "data": {k: data[k] for k in EVENT_KEYS if k in data}}


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run(request, pk)
    follow(request, run.graph.workspace_id)
    return render(request, "runs/detail.html", _run_context(run, request.user))


@login_required
def run_node(request: HttpRequest, pk: int, node_id: str) -> HttpResponse:
    """One node's inputs, outputs, error and LLM calls (prompt and answer), for the side panel."""
    run = _run(request, pk)
    state = selectors.run_node_states(run).get(node_id, {})
    # Match each journaled call to the prompt of its pre_llm_call event by key (parallel calls
    # of one node, such as consensus voters, finish in any order).
    prompts = {e.data.get("key"): e.data.get("messages")
               for e in run.events.filter(node_id=node_id, event="pre_llm_call").order_by("seq")}
    calls = []
    for call in state.get("llm_calls", []):
        messages_ = prompts.get(call.get("key"))
        prompt = "\n\n".join(_message_text(m) for m in messages_) if messages_ else ""
        calls.append({**call, "prompt": prompt})
    dump = lambda v: json.dumps(v, indent=2, ensure_ascii=False) if v else ""  # noqa: E731
    top_level = "/" not in node_id and any(n.get("id") == node_id for n in run.version.spec.get("nodes", []))
    return render(request, "runs/_node.html", {
        "run": run, "forkable": top_level and run.status in Run.FORKABLE and selectors.can_run_graph(request.user, run.graph),
        "run_inputs_json": json.dumps(run.inputs, indent=2, ensure_ascii=False), "node_id": node_id, "state": state, "calls": calls,
        "tool_calls": [{**c, "arguments_json": json.dumps(c.get("arguments", {}), ensure_ascii=False)}
                       for c in state.get("tool_calls", [])], "inputs_json": dump(state.get("inputs")) or "{}",
        "outputs_json": dump(state.get("outputs")), "error_json": dump(state.get("error")),
    })


def _message_text(message: dict) -> str:
    """A chat message as the panel shows it: an assistant's tool calls, a tool's answer by call id."""
    head = f"[{message.get('role')}" + (f" {message['tool_call_id']}" if message.get("tool_call_id") else "") + "]"
    body = message.get("content") or ""
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        body += f"\n→ {function.get('name')}({function.get('arguments')}) [{call.get('id')}]"
    return f"{head}\n{body.strip()}"


@login_required
@require_POST
def run_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Cancel or Resume. The run page posts with fetch (Accept: application/json) and stays where
    it is, its events telling what follows; a plain form post redirects back to the page."""
    wants_json = "application/json" in request.headers.get("Accept", "")
    run = _run(request, pk, "run")
    try:
        if action == "cancel":
            services.run_cancel(run=run, user=request.user)
        elif action == "resume":
            if limited := _too_many_runs(request):
                return limited
            decision = request.POST.get("tool_call")  # a run interrupted during a tool call: retry or skip it
            services.run_resume(run=run, user=request.user, tool_call=decision if decision in ("retry", "skip") else None)
    except services.ServiceError as exc:
        if wants_json:
            return JsonResponse({"ok": False, "error": str(exc)}, status=409)
        messages.error(request, str(exc))
    if wants_json:
        return JsonResponse({"ok": True})
    return redirect("run-detail", pk=pk)
