"""Reads. Who may see what is workspaces.permissions' answer (membership and role, never staff)."""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.models import JSONField, OuterRef, Q, QuerySet, Subquery

from workspaces.permissions import CompiledGetFor, get_for, graphs_visible_to, may, runs_visible_to

from .engine.state import NodeState as EngineNodeState
from .models import Graph, GraphVersion, NodeState, Run, RunEvent


def graphs_visible(user, action: str = "view") -> QuerySet[Graph]:
    return graphs_visible_to(user, action)


def runs_visible(user, action: str = "view") -> QuerySet[Run]:
    return runs_visible_to(user, action)


def can_see_graph(user, graph: Graph) -> bool:
    return may(user, "view", graph)


def can_see_run(user, run: Run) -> bool:
    return may(user, "view", run)


def graph_latest(graph: Graph) -> GraphVersion:
    return graph.versions.get(number=graph.latest_version)


def run_events_after(run: Run, after: int = 0, limit: int = 1000) -> QuerySet[RunEvent]:
    return RunEvent.objects.filter(run=run, seq__gt=after).order_by("seq")[:limit]


def run_node_states(run: Run) -> dict[str, dict]:
    """Latest state per node id, in the order the nodes first saved (nested ones included)."""
    return {ns.node_id: ns.data for ns in run.node_states.order_by("id")}


def run_nested_node_kinds(run: Run) -> dict[str, str]:
    """Kind of each nested node (``<node>/<key>/<child>``), as its pre_node (or, never started,
    its node_skipped) event says."""
    rows = (RunEvent.objects.filter(run=run, event__in=("pre_node", "node_skipped"), node_id__contains="/")
            .order_by("seq").values_list("node_id", "data__kind"))
    kinds: dict[str, str] = {}
    for node_id, kind in rows:
        kinds[node_id] = kinds.get(node_id) or kind or ""
    return kinds


def run_last_seq(run: Run) -> int:
    """The newest stored seq (Run.last_seq lags by up to a heartbeat while the run executes)."""
    if run.status not in Run.ACTIVE:
        return run.last_seq
    return RunEvent.objects.filter(run=run).order_by("-seq").values_list("seq", flat=True).first() or 0


def run_events_between(run: Run, after: int, upto: int) -> QuerySet[RunEvent]:
    """Events with after < seq <= upto, in order (a page's list, bounded by the seq it renders at)."""
    return RunEvent.objects.filter(run=run, seq__gt=after, seq__lte=upto).order_by("seq")


# Node events that change a node's state, and the state each one leaves it in (post_node and
# node_restored carry theirs in data.status).
NODE_STATE_EVENTS = {"pre_node": "running", "llm_retry": "retrying", "node_skipped": "skipped",
                     "post_node": None, "node_restored": None}


def run_node_statuses_from_events(run: Run, upto: int | None = None) -> dict[str, str]:
    """Each node's state as its events tell it (the same fold run_live.js makes live): a node in
    flight has no saved state yet, but its pre_node event says it runs."""
    statuses: dict[str, str] = {}
    qs = RunEvent.objects.filter(run=run, event__in=[*NODE_STATE_EVENTS, "run_resumed"])
    if upto is not None:
        qs = qs.filter(seq__lte=upto)
    rows = qs.order_by("seq").values_list("node_id", "event", "data__status")
    for node_id, event, status in rows:
        if event == "run_resumed":  # a new claim: what was in flight before runs again or is restored
            statuses = {n: s for n, s in statuses.items() if s not in ("running", "retrying")}
        elif node_id:
            statuses[node_id] = NODE_STATE_EVENTS[event] or status or "succeeded"
    return statuses


def graph_or_404(user, pk: int, action: str = "view") -> Graph:
    """The graph ``pk`` if ``user`` may do ``action`` on it; 404 outside their workspaces, as a
    missing one (ids cannot be enumerated); 403 for a member whose role is too low."""
    return get_for(user, Graph, pk, action)


def _graph_with_latest() -> QuerySet[Graph]:
    latest = GraphVersion.objects.filter(graph=OuterRef("pk"), number=OuterRef("latest_version"))
    return Graph.objects.annotate(latest_id=Subquery(latest.values("pk")[:1]),
                                  latest_inputs=Subquery(latest.values("spec__inputs")[:1]))


# The API's hot paths (graphs/api/fast.py and the DRF views alike): get_for with the statement
# compiled once per process (workspaces/permissions.py CompiledGetFor).
_graph_to_run = CompiledGetFor(_graph_with_latest)
# The run, its graph, its version's number and its creator (never the spec), in one statement.
_run_seen_by = CompiledGetFor(lambda: Run.objects.select_related("graph", "version", "created_by").defer("version__spec"))


def graph_to_run(user, pk: int) -> tuple[Graph, tuple[int, Any] | None]:
    """``graph_or_404(user, pk, "run")``, with its latest version's id and declared inputs read in
    the same query (what ``services.run_start`` needs to start it at that version)."""
    graph = _graph_to_run(user, pk, "run")
    return graph, (graph.latest_id, graph.latest_inputs) if graph.latest_id is not None else None


def run_seen_by(user, pk: int, action: str = "view") -> Run:
    """The run if ``user`` may do ``action`` on it (404 / 403 as get_for), loaded with its graph, its
    version (without the spec) and its creator: what the run's API answers need."""
    return _run_seen_by(user, pk, action)


def run_status(pk: int) -> str | None:
    """Run ``pk``'s status (None: no such run), with no access rule: for the API's look at a run
    its caller has just started. A plain statement: the ORM's compiling of even an ``exists()``
    cost several times its execution on this hot path."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status FROM {Run._meta.db_table} WHERE id = %s", [pk])
        row = cursor.fetchone()
    return None if row is None else row[0]


def run_node_data(run_id: int) -> list[tuple[str, dict[str, Any]]]:
    """(node id, stored state) of each of the run's nodes, in the order the run's API has always
    listed them (the table's, as ``run.node_states.all()``). A plain statement, as ``run_status``."""
    data = NodeState._meta.get_field("data")
    assert isinstance(data, JSONField)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT node_id, data FROM {NodeState._meta.db_table} WHERE run_id = %s", [run_id])
        return [(node_id, data.from_db_value(value, data.cached_col, connection)) for node_id, value in cursor.fetchall()]


def node_state_summary(data: dict[str, Any]) -> dict[str, Any]:
    """A stored node state (NodeState.data), as the API and the run page show it."""
    state = EngineNodeState.from_dict(data)
    prompt, completion = state.tokens
    return {"status": state.status, "attempts": state.attempts, "duration_ms": state.duration_ms,
            "cost_usd": state.cost_usd, "prompt_tokens": prompt, "completion_tokens": completion,
            "error": state.error, "outputs": state.outputs, "recovered_by": state.recovered_by,
            "llm_calls": len(state.llm_calls)}


def can_run_graph(user, graph: Graph) -> bool:
    """May start runs of the graph: the workspace's runners, editors and admins."""
    return may(user, "run", graph)


def runs_waiting_for(user) -> QuerySet[Run]:
    """Parked runs with a human node that waits for ``user`` (the "Waiting for you" filter): assigned
    to them by name or role, or unassigned and they may run the graph, or they are its admin."""
    from .assignees import waiting_for

    waiting = runs_visible(user).filter(status=Run.Status.WAITING)
    return waiting.filter(pk__in=waiting_for(user, waiting))


def run_waiting_nodes(run: Run) -> dict[str, dict]:
    """Human nodes of the run that wait for an answer now: node id -> their request (question,
    inputs, form, due_at), from their checkpoints. Answered ones are left out."""
    if run.status not in (Run.Status.WAITING, Run.Status.RUNNING):
        return {}
    answered = set(run.answers.values_list("node_id", flat=True))
    rows = run.node_states.filter(status="waiting").values_list("node_id", "data")
    return {nid: (data.get("scratch") or {}).get("human") or {} for nid, data in rows if nid not in answered}


MEMBER_EVENTS = ("pre_llm_call", "post_llm_call", "fallback", "decision", "post_node", "run_resumed")


def _member_changes(kind: str, event: str, data: dict) -> list[tuple[str, str]]:
    """The [member, state] pairs an event sets on a consensus (voter), fallback (level) or pev
    (phase) node: calls are keyed r<round>/<voter>/<attempt>, L<level>/<attempt>, i<n>/<phase>/<attempt>."""
    key = data.get("key")
    parts = key.split("/") if isinstance(key, str) else []
    call = {"pre_llm_call": "running", "post_llm_call": "succeeded"}.get(event)
    if kind == "consensus" and call and parts and re.fullmatch(r"r\d+", parts[0]) and len(parts) >= 3:
        return [("/".join(parts[1:-1]), call)]
    if kind == "fallback":
        if event == "pre_llm_call" and parts and re.fullmatch(r"L\d+", parts[0]):
            return [(parts[0][1:], "running")]
        if event in ("fallback", "decision") and data.get("level"):
            return [(str(data["level"]), "failed" if event == "fallback" else "succeeded")]
    if kind == "pev":
        if call and parts and re.fullmatch(r"i\d+", parts[0]) and len(parts) >= 2:
            return [(parts[1], call)]
        if event == "decision" and data.get("accepted") is False:
            return [("verify", "failed")]
    return []


def run_member_states(run: Run, kinds: dict[str, str], upto: int) -> dict[str, dict[str, str]]:
    """The lit rows of consensus, fallback and pev nodes ({node: {member: state}}) as the events up
    to ``upto`` leave them: the same fold run_live.js makes live."""
    ids = [n for n, k in kinds.items() if k in ("consensus", "fallback", "pev")]
    if not ids:
        return {}
    members: dict[str, dict[str, str]] = {}
    qs = (RunEvent.objects.filter(run=run, seq__lte=upto, event__in=MEMBER_EVENTS)
          .filter(Q(node_id__in=ids) | Q(event="run_resumed")).order_by("seq")
          .values_list("node_id", "event", "data__key", "data__level", "data__accepted", "data__status"))  # (not the prompts)
    for node_id, event, key, level, accepted, status in qs:
        data = {"key": key, "level": level, "accepted": accepted, "status": status}
        if event == "run_resumed":  # what was in flight runs again
            members = {n: {m: s for m, s in rows.items() if s != "running"} for n, rows in members.items()}
            continue
        rows = members.setdefault(node_id, {})
        changes = _member_changes(kinds[node_id], event, data)
        if event == "post_node" and data.get("status") != "succeeded":
            changes += [(m, "failed") for m, s in rows.items() if s == "running"]
        rows.update(changes)
    return {n: rows for n, rows in members.items() if rows}
