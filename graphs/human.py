"""People answer human nodes: the answer service, the park/answer handshake, and timeouts.

A run whose human node waits parks (status ``waiting``: no worker, no lease). An answer is one
row (``HumanAnswer``, unique per run and node: the first wins) and, after it commits, one
conditional transition ``waiting -> queued`` that re-enqueues the run; the resumed engine finds
the answer and feeds it to the node.

The race with a worker still finishing branches beside the human node is closed by a handshake:
each side first commits its own write, then looks for the other's. The worker commits
``status = waiting`` and then looks for answers to its waiting nodes (``requeue_if_answered``); the
answer commits its row and then tries the transition. Whichever commits second sees the first,
so an answer given while the run is still running is never stranded; the transition is one
conditional UPDATE, so only one of them re-enqueues the run.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .engine.nodes import registry
from .engine.validate import Issue
from .models import HumanAnswer, NodeState, Run
from .services import ServiceError, _enqueue_on_commit
from .signals import action as audit

log = logging.getLogger(__name__)


def _human_kind(run: Run, node_id: str) -> tuple[Any, Any]:
    """The node's kind and parsed config, from the version the run executes."""
    spec = next((n for n in run.version.spec.get("nodes", []) if n.get("id") == node_id), None)
    kind = registry.get(spec["kind"]) if spec else None
    if spec is None or kind is None or not getattr(kind, "human", False):
        raise ServiceError(f"node {node_id!r} is not a human node of this run", [Issue("node", "not a human node")], status=404)
    return kind, kind.parse(spec.get("config") or {})


def requeue_if_waiting(run_id: int) -> bool:
    """``waiting -> queued`` and the run's message sent, in one conditional UPDATE (only one
    caller wins). Called after an answer is committed, or after a park is."""
    with transaction.atomic():
        won = Run.objects.filter(pk=run_id, status=Run.Status.WAITING).update(
            status=Run.Status.QUEUED, enqueued_at=timezone.now(), claims=0, stalled_claims=0)
        if won:
            _enqueue_on_commit(Run(pk=run_id))
    return bool(won)


def requeue_if_answered(run_id: int, waiting: list[str]) -> bool:
    """The worker parked the run (committed): an answer that came meanwhile re-enqueues it."""
    if waiting and HumanAnswer.objects.filter(run_id=run_id, node_id__in=waiting).exists():
        return requeue_if_waiting(run_id)
    return False


def run_answer(*, run: Run, node_id: str, answer: Any, user: Any) -> HumanAnswer:
    """Record a person's answer to a waiting human node and wake the run (400 with the field
    path for a bad answer, 409 when the node does not wait or was answered already)."""
    kind, config = _human_kind(run, node_id)
    issues = kind.answer_issues(config, answer)
    if issues:
        raise ServiceError("the answer is invalid", [Issue(path, message) for path, message in issues])
    if run.status not in (Run.Status.WAITING, Run.Status.RUNNING) or not NodeState.objects.filter(
            run=run, node_id=node_id, status="waiting").exists():
        raise ServiceError(f"node {node_id} of run {run.pk} is not waiting for an answer (the run is {run.status})", status=409)
    try:
        with transaction.atomic():
            given = HumanAnswer.objects.create(run=run, node_id=node_id, answer=answer, answered_by=user)
            audit("run.answered", actor=user, run=run, status=run.status, node_id=node_id,
                  summary=f"{node_id}: {_summary(answer)}", data={"node": node_id, "answer": answer})
    except IntegrityError:
        raise ServiceError(f"node {node_id} of run {run.pk} was answered already", status=409) from None
    transaction.on_commit(lambda: requeue_if_waiting(run.pk))  # after the commit (see the handshake above)
    return given


def _summary(answer: Any) -> str:
    if isinstance(answer, dict) and "action" in answer:
        return f"{answer['action']} {answer.get('comment') or ''}".strip()
    return str(answer)[:200]


def human_timeouts(now=None) -> list[tuple[int, str]]:
    """The sweeper's part: waiting human nodes whose timeout lapsed get their default action as
    the answer (source timeout), and their runs are woken. Durable: the due time is in the
    node's checkpoint, any worker's sweeper takes it, the unique answer makes it happen once."""
    now = now or timezone.now()
    due = (NodeState.objects.filter(status="waiting", run__status__in=[Run.Status.WAITING, Run.Status.RUNNING],
                                    data__scratch__human__due_at__gt=0,  # (jsonb null sorts below numbers)
                                    data__scratch__human__due_at__lt=now.timestamp())
           .select_related("run", "run__version", "run__graph").order_by("id")[:200])
    taken = []
    for state in due:
        run = state.run
        due_at = ((state.data.get("scratch") or {}).get("human") or {}).get("due_at")
        if not isinstance(due_at, int | float) or due_at >= now.timestamp():
            continue
        if HumanAnswer.objects.filter(run=run, node_id=state.node_id).exists():
            continue
        try:
            kind, config = _human_kind(run, state.node_id)
        except ServiceError:
            continue
        answer = kind.timeout_answer(config)
        try:
            with transaction.atomic():
                HumanAnswer.objects.create(run=run, node_id=state.node_id, answer=answer, source=HumanAnswer.Source.TIMEOUT)
                audit("run.answer_timeout", run=run, status=run.status, node_id=state.node_id,
                      summary=f"{state.node_id}: no answer in time, {kind.on_timeout(config) or 'fail'}",
                      data={"node": state.node_id, "answer": answer})
        except IntegrityError:
            continue  # a person (or another sweeper) was first
        transaction.on_commit(functools.partial(requeue_if_waiting, run.pk))
        taken.append((run.pk, state.node_id))
    if taken:
        log.info("human nodes timed out: %s", taken)
    return taken

