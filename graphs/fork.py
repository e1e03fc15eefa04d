"""Re-run and fork: a new run that reuses another run's recorded results up to a node.

"Re-run from here" starts a new run of the same version; every node that is not the chosen
node or after it (downstream through data and error edges) keeps the state the source run
recorded for it: outputs, LLM journal, nested runs' states. The engine restores those like
checkpoints after a crash, so only the chosen node and the nodes after it execute (and call
models) again. "Fork" does the same with edits: other graph inputs, edited outputs of reused
nodes, or a newer version of the graph whose reused part is unchanged (node kind, config and
incoming edges), refused with a 400 naming each difference otherwise.

Copied states carry ``origin`` (the source run and node): the engine starts such a run with
``run_started`` (not ``run_resumed``), and the page says where each reused result came from.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.utils import timezone

from .engine.state import FINISHED
from .engine.types import value_matches
from .engine.validate import GraphInvalid, Issue, compile_graph
from .models import Checkpoint, GraphVersion, NodeState, Run
from .services import ServiceError, _enqueue_on_commit, _run_input_issues
from .signals import action as audit


def downstream_of(spec: dict[str, Any], node_id: str) -> set[str]:
    """The node and every node reachable from it (data and error edges)."""
    after: dict[str, list[str]] = defaultdict(list)
    for edge in spec.get("edges", []):
        after[edge["source"]].append(edge["target"])
    seen, todo = {node_id}, [node_id]
    while todo:
        for nxt in after[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _incoming(spec: dict[str, Any], node_id: str) -> list[tuple]:
    return sorted((e["source"], e.get("source_port", ""), e.get("target_port", ""), e.get("kind", "data"))
                  for e in spec.get("edges", []) if e["target"] == node_id)


def _survives(data: dict[str, Any]) -> bool:
    """A state the engine keeps on resume (the rest runs again)."""
    return data.get("status") in FINISHED or (data.get("status") == "failed" and bool(data.get("recovered_by")))


def _changed_upstream(old: dict[str, Any], new: dict[str, Any], reused: list[str]) -> list[Issue]:
    before = {n["id"]: n for n in old.get("nodes", [])}
    issues = []
    for nid in reused:
        now = next(n for n in new["nodes"] if n["id"] == nid)
        was = before.get(nid)
        if was is None:
            issues.append(Issue("version", f"node {nid} is new in this version and runs before the fork point", node=nid))
        elif (was["kind"], was.get("config") or {}) != (now["kind"], now.get("config") or {}):
            issues.append(Issue("version", f"node {nid} changed in this version and runs before the fork point", node=nid))
        elif _incoming(old, nid) != _incoming(new, nid):
            issues.append(Issue("version", f"the edges into node {nid} changed in this version", node=nid))
    return issues


@transaction.atomic
def run_fork(*, run: Run, node_id: str, user: Any, inputs: dict[str, Any] | None = None,
             outputs: dict[str, dict[str, Any]] | None = None, version: int | None = None) -> Run:
    """A new run from ``node_id`` of ``run`` (a re-run when nothing is edited); see the module."""
    if run.status not in Run.FORKABLE:
        raise ServiceError(f"run {run.pk} is {run.status}; only finished, failed, interrupted or cancelled runs can be "
                           "re-run or forked", status=409)
    source_spec = GraphVersion.objects.values_list("spec", flat=True).get(pk=run.version_id)
    target = run.version if version is None else GraphVersion.objects.filter(graph_id=run.graph_id, number=version).first()
    if target is None:
        raise ServiceError(f"version {version} does not exist", [Issue("version", "no such version")])
    spec = source_spec if target.pk == run.version_id else target.spec
    if not any(n["id"] == node_id for n in spec.get("nodes", [])):
        raise ServiceError(f"node {node_id!r} is not in version {target.number}", [Issue("node", "no such node")])
    after = downstream_of(spec, node_id)
    reused = [n["id"] for n in spec["nodes"] if n["id"] not in after]
    issues = _changed_upstream(source_spec, spec, reused) if target.pk != run.version_id else []
    if inputs is not None:
        issues += _run_input_issues(spec, inputs)
    rows = {ns.node_id: ns.data for ns in NodeState.objects.filter(run=run)}
    copied: dict[str, dict[str, Any]] = {}
    for nid in reused:
        if nid in rows and _survives(rows[nid]):
            copied[nid] = dict(rows[nid])
            for key, data in rows.items():  # its nested runs' states (for-each items, guarded subgraphs)
                if key.startswith(nid + "/"):
                    copied[key] = dict(data)
    issues += _edit_outputs(spec, copied, outputs or {})
    if issues:
        raise ServiceError("the fork is invalid", issues)
    for key, data in copied.items():
        data["origin"] = {"run": run.pk, "node": key.split("/")[0]}
    edits = {k: v for k, v in {"inputs": inputs, "outputs": outputs,
                               "version": target.number if target.pk != run.version_id else None}.items() if v}
    task_id = str(uuid.uuid4())
    new = Run.objects.create(
        graph_id=run.graph_id, version=target, created_by=user, inputs=run.inputs if inputs is None else inputs,
        dry_run=run.dry_run, budget_usd=run.budget_usd, enqueued_at=timezone.now(), celery_task_id=task_id,
        forked_from=run, forked_from_node=node_id, fork_edits=edits or None,
        origin=Run.Origin.FORK, origin_label=f"{'fork' if edits else 're-run'} of run #{run.pk} at {node_id}"[:200])
    NodeState.objects.bulk_create([NodeState(run=new, node_id=k, status=d["status"], data=d) for k, d in copied.items()])
    Checkpoint.objects.bulk_create([Checkpoint(run=new, node_id=k, status=d["status"], data=d) for k, d in copied.items()])
    action = "run.forked" if edits else "run.rerun"
    audit(action, actor=user, run=new, status="queued", node_id=node_id,
          summary=f"from run {run.pk} at {node_id}" + (f" (edited: {', '.join(edits)})" if edits else ""),
          data={"forked_from": run.pk, "node": node_id, "edits": edits, "reused": sorted(k for k in copied if "/" not in k)})
    _enqueue_on_commit(new, task_id)
    return new


def _edit_outputs(spec: dict[str, Any], copied: dict[str, dict[str, Any]], outputs: Any) -> list[Issue]:
    if not isinstance(outputs, dict):
        return [Issue("outputs", "must be an object {node: {port: value}}")]
    if not outputs:
        return []
    try:
        _spec, compiled = compile_graph(spec)
    except GraphInvalid:
        return [Issue("version", "the graph version is invalid")]
    issues = []
    for nid, values in outputs.items():
        if nid not in copied or "/" in nid:
            issues.append(Issue(f"outputs.{nid}", "only the outputs of a node before the fork point with a recorded result can be edited"))
            continue
        if not isinstance(values, dict):
            issues.append(Issue(f"outputs.{nid}", "must be an object {port: value}"))
            continue
        ports = compiled[nid].outputs
        for port, value in values.items():
            if port not in ports:
                issues.append(Issue(f"outputs.{nid}.{port}", f"not an output of {nid} ({', '.join(ports)})"))
            elif not value_matches(value, ports[port].type):
                issues.append(Issue(f"outputs.{nid}.{port}", f"must be {ports[port].type}"))
        if not any(i.path.startswith(f"outputs.{nid}") for i in issues):
            state = copied[nid]
            state["outputs"] = {**(state.get("outputs") or {}), **values}
    return issues
