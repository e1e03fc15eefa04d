"""Writes for webhook triggers and schedules: create, change, delete, regenerate a secret, and
start the graph's published version (a trigger's call, a schedule's firing). Every action and
every call is in the audit log (accepted or refused, with the reason; a flood of refusals as one row
per window and a count: refusals.py)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from graphs.models import Graph, Run
from graphs.services import ServiceError, published_version_missing, run_start
from graphs.signals import action as audit

from . import timing
from .auth import new_secret, store_secret
from .beat import FIRE_TASK
from .models import Schedule, ScheduleFiring, WebhookTrigger
from .refusals import count_refusal

log = logging.getLogger(__name__)

TRIGGER_FIELDS = ("name", "auth", "mapping", "mode", "wait_s", "rate_limit", "max_body_bytes", "enabled")
SCHEDULE_FIELDS = ("name", "kind", "cron", "interval_s", "timezone", "inputs", "missed", "enabled")


def trigger_public(t: WebhookTrigger) -> dict[str, Any]:
    """What may be shown or logged about a trigger: everything but its secret."""
    return {"id": t.pk, "name": t.name, "path": t.path, "auth": t.auth, "mapping": t.mapping, "mode": t.mode,
            "wait_s": t.wait_s, "rate_limit": t.rate_limit, "max_body_bytes": t.max_body_bytes, "enabled": t.enabled,
            "secret_hint": t.secret_hint}


def _audit_trigger(event: str, t: WebhookTrigger, **kwargs: Any) -> None:
    audit(event, graph=t.graph, object_type="trigger", object_id=t.pk, **kwargs)


@transaction.atomic
def trigger_create(*, graph: Graph, user: Any, **fields: Any) -> tuple[WebhookTrigger, str]:
    """A new trigger and its secret (returned once, never stored in the clear)."""
    trigger = WebhookTrigger(graph=graph, created_by=user, **{k: v for k, v in fields.items() if k in TRIGGER_FIELDS})
    secret = new_secret()
    store_secret(trigger, secret)
    trigger.save()
    _audit_trigger("trigger.created", trigger, actor=user, summary=trigger.name or trigger.path, data=trigger_public(trigger))
    return trigger, secret


@transaction.atomic
def trigger_update(*, trigger: WebhookTrigger, user: Any, **fields: Any) -> tuple[WebhookTrigger, str]:
    """Change a trigger. Switching between token and HMAC makes a new secret (returned; else "")."""
    secret = ""
    auth_changed = "auth" in fields and fields["auth"] != trigger.auth
    for key, value in fields.items():
        if key in TRIGGER_FIELDS:
            setattr(trigger, key, value)
    if auth_changed:
        secret = new_secret()
        store_secret(trigger, secret)
        trigger.secret_rotated_at = timezone.now()
    trigger.save()
    _audit_trigger("trigger.updated", trigger, actor=user, summary=trigger.name or trigger.path,
                   data={**trigger_public(trigger), "new_secret": bool(secret)})
    return trigger, secret


@transaction.atomic
def trigger_regenerate_secret(*, trigger: WebhookTrigger, user: Any) -> str:
    secret = new_secret()
    store_secret(trigger, secret)
    trigger.secret_rotated_at = timezone.now()
    trigger.save(update_fields=["token_sha256", "encrypted_secret", "secret_hint", "secret_rotated_at"])
    _audit_trigger("trigger.secret_regenerated", trigger, actor=user, summary=f"new secret {trigger.secret_hint}")
    return secret


@transaction.atomic
def trigger_delete(*, trigger: WebhookTrigger, user: Any) -> None:
    _audit_trigger("trigger.deleted", trigger, actor=user, summary=trigger.name or trigger.path, data=trigger_public(trigger))
    trigger.delete()


def trigger_refused(*, trigger: WebhookTrigger, status: int, reason: str, call: dict[str, Any],
                    now: datetime | None = None) -> bool:
    """Audit a refused call (its own transaction: the refusal is kept whatever else happens); calls
    refused before they were let through are one row per window and a count (triggers/refusals.py).
    False: the call was only counted on an open window (nothing new to log either)."""
    with transaction.atomic():
        window = count_refusal(trigger, status, reason, now or timezone.now())
        if window is None:
            return False
        _audit_trigger("trigger.called", trigger, actor=None, status="refused", summary=f"{status}: {reason}"[:300],
                       data={**call, "http_status": status, "reason": reason, **window})
    return True


@transaction.atomic
def trigger_start_run(*, trigger: WebhookTrigger, inputs: dict[str, Any], call: dict[str, Any]) -> Run:
    """Start the graph's published version with ``inputs`` (the same path as the API's POST run:
    the run is enqueued when this transaction commits). ServiceError: 409 unpublished, 400 inputs."""
    graph = Graph.objects.get(pk=trigger.graph_id)
    if graph.published_version is None:
        raise published_version_missing(graph)
    run = run_start(graph=graph, user=trigger.created_by, inputs=inputs, version=graph.published_version,
                    origin=Run.Origin.TRIGGER, origin_label=_label("trigger", trigger))
    _audit_trigger("trigger.called", trigger, actor=None, run=run, status="accepted",
                   summary=f"202: run {run.pk} of version {graph.published_version}",
                   data={**call, "http_status": 202, "run": run.pk, "version": graph.published_version})
    return run


def _label(kind: str, obj: WebhookTrigger | Schedule) -> str:
    return f'{kind} #{obj.pk}' + (f' "{obj.name}"' if obj.name else "")


# --- schedules -----------------------------------------------------------------------------------

def schedule_public(s: Schedule) -> dict[str, Any]:
    return {"id": s.pk, "name": s.name, "kind": s.kind, "cron": s.cron, "interval_s": s.interval_s, "timezone": s.timezone,
            "inputs": s.inputs, "missed": s.missed, "enabled": s.enabled}


def schedule_problems(fields: dict[str, Any]) -> dict[str, str]:
    """{field: problem} for a schedule's timing fields."""
    problems: dict[str, str] = {}
    kind = fields.get("kind")
    if kind == Schedule.Kind.CRON:
        if problem := timing.cron_problem(fields.get("cron") or ""):
            problems["cron"] = problem
    elif kind == Schedule.Kind.INTERVAL:
        every = fields.get("interval_s")
        if not isinstance(every, int) or not timing.MIN_INTERVAL_S <= every <= timing.MAX_INTERVAL_S:
            problems["interval_s"] = f"whole seconds from {timing.MIN_INTERVAL_S} to {timing.MAX_INTERVAL_S}"
    else:
        problems["kind"] = "cron or interval"
    if problem := timing.timezone_problem(fields.get("timezone") or ""):
        problems["timezone"] = problem
    if not isinstance(fields.get("inputs", {}), dict):
        problems["inputs"] = "an object of the graph's inputs"
    return problems


def _sync_periodic_task(schedule: Schedule, restart: bool = True) -> None:
    """Keep the django-celery-beat row that beat reads in step with the schedule (saved through
    the model, so beat processes notice the change)."""
    task = schedule.periodic_task or PeriodicTask(name=f"kaizen-schedule-{schedule.pk}", task=FIRE_TASK)
    task.args = json.dumps([schedule.pk])
    task.enabled = schedule.enabled
    if schedule.kind == Schedule.Kind.CRON:
        minute, hour, dom, month, dow = [f.replace("?", "*") for f in schedule.cron.split()]
        task.crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow, timezone=schedule.timezone)
        task.interval, task.start_time = None, None
    else:
        task.interval, _ = IntervalSchedule.objects.get_or_create(every=schedule.interval_s, period=IntervalSchedule.SECONDS)
        task.crontab, task.start_time = None, schedule.anchor
    if restart:  # (a new timing starts afresh: beat recomputes from start_time / now)
        task.last_run_at = None
    task.save()
    if schedule.periodic_task_id != task.pk:
        schedule.periodic_task = task
        schedule.save(update_fields=["periodic_task"])


def _timing_changed(schedule: Schedule, fields: dict[str, Any]) -> bool:
    return any(k in fields and fields[k] != getattr(schedule, k) for k in ("kind", "cron", "interval_s", "timezone"))


@transaction.atomic
def schedule_create(*, graph: Graph, user: Any, **fields: Any) -> Schedule:
    fields = {"timezone": "UTC", **fields}
    if problems := schedule_problems(fields):
        raise ServiceError("the schedule is invalid", _issues(problems))
    schedule = Schedule.objects.create(graph=graph, created_by=user, anchor=_anchor(fields),
                                       **{k: v for k, v in fields.items() if k in SCHEDULE_FIELDS})
    _sync_periodic_task(schedule)
    audit("schedule.created", graph=graph, actor=user, object_type="schedule", object_id=schedule.pk,
          summary=schedule.name or describe(schedule), data=schedule_public(schedule))
    return schedule


@transaction.atomic
def schedule_update(*, schedule: Schedule, user: Any, **fields: Any) -> Schedule:
    merged = {**schedule_public(schedule), **fields}
    if problems := schedule_problems(merged):
        raise ServiceError("the schedule is invalid", _issues(problems))
    timing_changed = _timing_changed(schedule, fields)
    if timing_changed:
        schedule.anchor = _anchor(merged)
    for key, value in fields.items():
        if key in SCHEDULE_FIELDS:
            setattr(schedule, key, value)
    schedule.save()
    _sync_periodic_task(schedule, restart=timing_changed)
    audit("schedule.updated", graph=schedule.graph, actor=user, object_type="schedule", object_id=schedule.pk,
          summary=schedule.name or describe(schedule), data=schedule_public(schedule))
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: Schedule, user: Any) -> None:
    audit("schedule.deleted", graph=schedule.graph, actor=user, object_type="schedule", object_id=schedule.pk,
          summary=schedule.name or describe(schedule), data=schedule_public(schedule))
    schedule.delete()  # (its beat row goes with it: signals.py)


def _anchor(fields: dict[str, Any]) -> datetime:
    """Interval firings fall on anchor + k * interval; the first is one interval after the schedule
    is made (as Celery's own interval schedules), not at once."""
    every = fields.get("interval_s") if fields.get("kind") == Schedule.Kind.INTERVAL else 0
    return timezone.now().replace(microsecond=0) + timedelta(seconds=every or 0)


def _issues(problems: dict[str, str]):
    from graphs.engine.validate import Issue

    return [Issue(path, message) for path, message in problems.items()]


def describe(s: Schedule) -> str:
    every = s.interval_s or 0
    if s.kind == Schedule.Kind.CRON:
        return f"cron {s.cron} ({s.timezone})"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if every % size == 0 and every >= size:
            return f"every {every // size} {unit}"
    return f"every {every} s"


def grace_s(s: Schedule, fire_at: datetime) -> float:
    """How late a firing may start and still count as on time (the skip policy skips later ones):
    KAIZEN_SCHEDULE_GRACE_S, at most half the gap to the next firing."""
    return min(settings.KAIZEN_SCHEDULE_GRACE_S, timing.gap_after(s, fire_at) / 2)


def schedule_fire(*, schedule_id: int, sent_at: float | None = None) -> str:
    """One beat message: start the published version for the firing it stands for, at most once.

    The firing row (unique per schedule and firing time) and the run are inserted in one
    transaction, so a second message for the same firing (another beat process, a redelivery)
    fails on the unique key and starts nothing. Returns what happened, for logs and tests."""
    sent = datetime.fromtimestamp(sent_at, UTC) if sent_at else timezone.now()
    try:
        with transaction.atomic():
            schedule = Schedule.objects.select_related("graph", "created_by").filter(pk=schedule_id).first()
            if schedule is None or not schedule.enabled:
                return "gone"
            fire_at = timing.firing_for(schedule, sent)
            if fire_at is None:
                return "not begun"
            late = max(0.0, (sent - fire_at).total_seconds())
            firing = ScheduleFiring.objects.create(schedule=schedule, fire_at=fire_at, late_s=late,
                                                   outcome=ScheduleFiring.Outcome.STARTED)
            return _fire(schedule, firing, late)
    except IntegrityError:
        log.info("schedule %s: this firing has already been handled (a duplicate beat message)", schedule_id)
        return "duplicate"


def _fire(schedule: Schedule, firing: ScheduleFiring, late: float) -> str:
    graph = schedule.graph
    fields: dict[str, Any] = {}
    status = "started"
    if schedule.missed == Schedule.Missed.SKIP and late > grace_s(schedule, firing.fire_at):
        fields = {"outcome": ScheduleFiring.Outcome.SKIPPED, "detail": f"missed by {late:.0f} s; the policy is skip"}
        status = "skipped"
    elif graph.published_version is None:
        fields = {"outcome": ScheduleFiring.Outcome.REFUSED, "detail": str(published_version_missing(graph))[:300]}
        status = "refused"
    else:
        try:
            with transaction.atomic():
                run = run_start(graph=graph, user=schedule.created_by, inputs=dict(schedule.inputs),
                                version=graph.published_version, origin=Run.Origin.SCHEDULE,
                                origin_label=_label("schedule", schedule))
            fields = {"run": run}
        except ServiceError as exc:
            detail = "; ".join(f"{i.path}: {i.message}" for i in exc.issues) or str(exc)
            fields = {"outcome": ScheduleFiring.Outcome.REFUSED, "detail": detail[:300]}
            status = "refused"
    for key, value in fields.items():
        setattr(firing, key, value)
    firing.save()
    audit("schedule.fired", graph=graph, actor=None, run=fields.get("run"), object_type="schedule",
          object_id=schedule.pk, status=status,
          summary=f"{status}: firing of {firing.fire_at:%Y-%m-%d %H:%M:%S} UTC" + (f" ({firing.detail})" if firing.detail else ""),
          data={"fire_at": firing.fire_at.isoformat(), "late_s": round(late, 3), "version": graph.published_version,
                "detail": firing.detail})
    return status
