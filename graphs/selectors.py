"""Reads, with access rules: a user sees their own graphs and runs; staff see all."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from .engine.state import NodeState as EngineNodeState
from .models import Graph, GraphVersion, Run, RunEvent


def graphs_visible(user) -> QuerySet[Graph]:
    qs = Graph.objects.select_related("owner")
    return qs if user.is_staff else qs.filter(owner=user)


def runs_visible(user) -> QuerySet[Run]:
    qs = Run.objects.select_related("graph", "version", "created_by")
    return qs if user.is_staff else qs.filter(graph__owner=user)


def can_see_graph(user, graph: Graph) -> bool:
    return user.is_authenticated and (user.is_staff or graph.owner_id == user.pk)


def can_see_run(user, run: Run) -> bool:
    return user.is_authenticated and (user.is_staff or run.graph.owner_id == user.pk)


def graph_latest(graph: Graph) -> GraphVersion:
    return graph.versions.get(number=graph.latest_version)


def run_events_after(run: Run, after: int = 0, limit: int = 1000) -> QuerySet[RunEvent]:
    return RunEvent.objects.filter(run=run, seq__gt=after).order_by("seq")[:limit]


def run_node_states(run: Run) -> dict[str, dict]:
    """Latest state per node id, in the order the nodes first saved (nested ones included)."""
    return {ns.node_id: ns.data for ns in run.node_states.order_by("id")}


def run_nested_node_kinds(run: Run) -> dict[str, str]:
    """Kind of each nested node (``<node>/<key>/<child>``), as its pre_node event says."""
    rows = RunEvent.objects.filter(run=run, event="pre_node", node_id__contains="/").values_list("node_id", "data__kind")
    return {node_id: kind or "" for node_id, kind in rows}


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


def graph_or_404(user, pk: int) -> Graph:
    """The graph ``pk`` if ``user`` may see it; 404 otherwise, as a missing one (ids cannot be enumerated)."""
    graph = get_object_or_404(Graph, pk=pk)
    if not can_see_graph(user, graph):
        raise Http404("No Graph matches the given query.")
    return graph


def node_state_summary(data: dict[str, Any]) -> dict[str, Any]:
    """A stored node state (NodeState.data), as the API and the run page show it."""
    state = EngineNodeState.from_dict(data)
    prompt, completion = state.tokens
    return {"status": state.status, "attempts": state.attempts, "duration_ms": state.duration_ms,
            "cost_usd": state.cost_usd, "prompt_tokens": prompt, "completion_tokens": completion,
            "error": state.error, "outputs": state.outputs, "recovered_by": state.recovered_by,
            "llm_calls": len(state.llm_calls)}
