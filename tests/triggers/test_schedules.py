"""Schedules: rows beat reads (django-celery-beat), one run per firing whoever sends it, the
missed-firing policy, the published version."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django_celery_beat.models import PeriodicTask

from audit.models import AuditEntry
from graphs import services as graph_services
from graphs.models import Run
from tests.helpers import chain
from triggers import services
from triggers.models import Schedule, ScheduleFiring


def at(schedule: Schedule, seconds: float) -> float:
    return (schedule.anchor + timedelta(seconds=seconds)).timestamp()


@pytest.mark.django_db
def test_a_schedule_is_a_periodic_task_beat_reads(graph, user):
    schedule = services.schedule_create(graph=graph, user=user, kind="interval", interval_s=30, timezone="UTC",
                                        inputs={"task": "tick"})
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "triggers.schedule_fire" and task.args == f"[{schedule.pk}]" and task.enabled
    assert task.interval.every == 30 and task.start_time == schedule.anchor
    services.schedule_update(schedule=schedule, user=user, kind="cron", cron="0 9 * * mon-fri", timezone="Europe/Paris")
    task.refresh_from_db()
    assert task.interval is None and str(task.crontab.timezone) == "Europe/Paris" and task.crontab.day_of_week == "mon-fri"
    services.schedule_update(schedule=schedule, user=user, enabled=False)
    task.refresh_from_db()
    assert not task.enabled
    services.schedule_delete(schedule=schedule, user=user)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    assert [e.event for e in AuditEntry.objects.filter(object_type="schedule").order_by("id")] == [
        "schedule.created", "schedule.updated", "schedule.updated", "schedule.deleted"]


@pytest.mark.django_db
def test_bad_schedules_are_refused_with_the_field(graph, user, api_client):
    for fields, path in (({"kind": "cron", "cron": "0 9 1 * mon"}, "cron"), ({"kind": "interval", "interval_s": 0}, "interval_s"),
                         ({"kind": "cron", "cron": "* * * * *", "timezone": "Mars/Olympus"}, "timezone")):
        response = api_client.post(f"/api/graphs/{graph.pk}/schedules/", fields, format="json")
        assert response.status_code == 400 and response.data["errors"][0]["path"] == path, response.data
    response = api_client.post(f"/api/graphs/{graph.pk}/schedules/", {"kind": "cron", "cron": "*/15 * * * *",
                                                                     "timezone": "Asia/Tokyo"}, format="json")
    assert response.status_code == 201 and len(response.data["next_firings"]) == 5
    assert response.data["next_firings"][0].endswith("+09:00")


@pytest.mark.django_db
def test_one_run_per_firing_however_many_messages(graph, user, django_capture_on_commit_callbacks):
    schedule = services.schedule_create(graph=graph, user=user, kind="interval", interval_s=10, timezone="UTC",
                                        inputs={"task": "tick"})
    with django_capture_on_commit_callbacks(execute=False):
        outcomes = [services.schedule_fire(schedule_id=schedule.pk, sent_at=at(schedule, t)) for t in (10.2, 10.9, 9.8, 20.1)]
    assert outcomes == ["started", "duplicate", "duplicate", "started"]
    firings = list(ScheduleFiring.objects.order_by("fire_at"))
    assert [f.fire_at - schedule.anchor for f in firings] == [timedelta(seconds=10), timedelta(seconds=20)]
    runs = Run.objects.order_by("id")
    assert [r.pk for r in runs] == [f.run_id for f in firings] and all(r.inputs == {"task": "tick"} for r in runs)
    assert all(r.version.number == 1 for r in runs)
    assert all((r.origin, r.origin_label) == ("schedule", f"schedule #{schedule.pk}") for r in runs)


@pytest.mark.django_db(transaction=True)
def test_concurrent_messages_for_one_firing_start_one_run(graph, user):
    """Two workers receive the same firing at once (two beat processes): the unique key, inserted
    in the run's transaction, lets one through; the other waits for it and then stops."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    schedule = services.schedule_create(graph=graph, user=user, kind="interval", interval_s=60, timezone="UTC",
                                        inputs={"task": "tick"})
    barrier, outcomes = threading.Barrier(6), []

    def fire(offset: float) -> None:
        try:
            barrier.wait()
            outcomes.append(services.schedule_fire(schedule_id=schedule.pk, sent_at=at(schedule, 60 + offset)))
        finally:
            connection.close()

    threads = [threading.Thread(target=fire, args=(i / 10,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["duplicate"] * 5 + ["started"]
    assert Run.objects.count() == 1 and ScheduleFiring.objects.count() == 1


@pytest.mark.django_db
def test_missed_firings_skip_or_run_once(graph, user, django_capture_on_commit_callbacks):
    skip = services.schedule_create(graph=graph, user=user, kind="interval", interval_s=3600, timezone="UTC",
                                    inputs={"task": "x"}, missed="skip")
    once = services.schedule_create(graph=graph, user=user, kind="interval", interval_s=3600, timezone="UTC",
                                    inputs={"task": "x"}, missed="run_once")
    late = 5 * 3600 + 1200  # beat was down for hours: it sends one message when it is back
    with django_capture_on_commit_callbacks(execute=False):
        assert services.schedule_fire(schedule_id=skip.pk, sent_at=at(skip, late)) == "skipped"
        assert services.schedule_fire(schedule_id=once.pk, sent_at=at(once, late)) == "started"
        assert services.schedule_fire(schedule_id=skip.pk, sent_at=at(skip, 6 * 3600 + 2)) == "started"  # on time
    skipped = ScheduleFiring.objects.get(schedule=skip, outcome="skipped")
    assert skipped.run is None and "missed by 1200 s" in skipped.detail
    assert ScheduleFiring.objects.get(schedule=once).fire_at == once.anchor + timedelta(hours=5)
    assert Run.objects.count() == 2


@pytest.mark.django_db
def test_without_a_published_version_a_firing_is_refused_and_recorded(user):
    graph = graph_services.graph_create(owner=user, name="draft", spec=chain(1)).graph
    schedule = services.schedule_create(graph=graph, user=user, kind="interval", interval_s=60, timezone="UTC",
                                        inputs={"task": "x"})
    assert services.schedule_fire(schedule_id=schedule.pk, sent_at=at(schedule, 60.5)) == "refused"
    firing = ScheduleFiring.objects.get()
    assert firing.outcome == "refused" and "no published version" in firing.detail and Run.objects.count() == 0
    assert AuditEntry.objects.filter(event="schedule.fired", status="refused", graph_id=graph.pk).count() == 1


@pytest.mark.django_db
def test_a_disabled_or_deleted_schedule_starts_nothing(graph, user):
    schedule = services.schedule_create(graph=graph, user=user, kind="interval", interval_s=60, timezone="UTC",
                                        inputs={"task": "x"}, enabled=False)
    assert services.schedule_fire(schedule_id=schedule.pk, sent_at=at(schedule, 60.5)) == "gone"
    assert services.schedule_fire(schedule_id=999999, sent_at=at(schedule, 60.5)) == "gone"
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_deleting_the_graph_removes_the_beat_rows(user):
    graph = graph_services.graph_create(owner=user, name="short-lived", spec=chain(1)).graph
    schedule = services.schedule_create(graph=graph, user=user, kind="interval", interval_s=60, inputs={"task": "x"})
    graph_services.graph_delete(graph=graph, user=user)
    assert not Schedule.objects.exists() and not PeriodicTask.objects.filter(pk=schedule.periodic_task_id).exists()


@pytest.mark.django_db
def test_beat_keeps_interval_firings_on_the_grid(graph, user):
    """Beat's entry for an interval schedule records the firing time it just sent, not the moment
    it woke: the next one is due one interval after the firing, so lateness never accumulates."""
    from triggers.beat import Entry

    schedule = services.schedule_create(graph=graph, user=user, kind="interval", interval_s=10, inputs={"task": "x"})
    model = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    entry = Entry(model)
    assert not entry.is_due().is_due  # (the first firing is one interval after the schedule was made)
    woke = schedule.anchor + timedelta(seconds=20.7)  # beat woke 0.7 s late for the firing at +20 s
    entry._default_now = lambda: woke
    after = next(entry)
    assert after.last_run_at == schedule.anchor + timedelta(seconds=20)
    assert "sent_at" in after.kwargs and isinstance(after.kwargs["sent_at"](), float)  # (evaluated when beat sends)
