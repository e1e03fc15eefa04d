"""A flood of refused trigger calls is bounded evidence: one audit row per trigger, HTTP status and
window (from the first refusal), with the count of the calls it stands for; the next window's row
carries the closed window's count into the audit log; accepted calls are untouched."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client

from audit.models import AuditEntry
from graphs.models import Run
from triggers import services
from triggers.models import RefusalWindow, WebhookTrigger
from triggers.refusals import window_s


def post(trigger: WebhookTrigger, body: bytes = b'{"task": "x"}', **headers: str):
    return Client().post(trigger.path, body, content_type="application/json", headers=headers)


def refused(trigger: WebhookTrigger) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(event="trigger.called", object_id=str(trigger.pk), status="refused").order_by("id"))


@pytest.mark.django_db
def test_twenty_calls_without_the_secret_are_one_audit_row_counting_twenty(graph, user):
    trigger, secret = services.trigger_create(graph=graph, user=user)
    for i in range(20):
        headers = {"Authorization": f"Bearer kzt_guess_{i}"} if i % 2 else {}
        assert post(trigger, **headers).status_code == 401
    [row] = refused(trigger)
    assert row.data["http_status"] == 401 and row.data["window_s"] == window_s() == 60
    assert "no token" in row.summary and row.data["remote_addr"], "the first refusal's reason and caller are kept"
    window = RefusalWindow.objects.get(pk=row.data["refusal_window"])
    assert (window.trigger_id, window.http_status, window.count) == (trigger.pk, 401, 20)
    assert "wrong token" in window.last_reason
    # the graph's page says how many calls the row stands for
    page = Client()
    page.force_login(user)
    panel = page.get(f"/graphs/{graph.pk}/triggers/").content.decode()
    assert 'data-testid="refusals-folded"' in panel and "× 20" in panel
    # an accepted call still starts a run, with a row of its own
    accepted = post(trigger, Authorization=f"Bearer {secret}")
    assert accepted.status_code == 202 and Run.objects.filter(pk=accepted.json()["run_id"]).exists()
    assert AuditEntry.objects.filter(event="trigger.called", object_id=str(trigger.pk), status="accepted").count() == 1
    # a minute later (the window moved back instead of waiting), the next refusal opens a new window and its
    # row carries the closed window's count into the audit log
    ancient = RefusalWindow.objects.create(trigger=trigger, http_status=401, opened_at=window.opened_at - timedelta(days=400),
                                           last_at=window.opened_at - timedelta(days=400))  # (past the audit's retention)
    RefusalWindow.objects.filter(pk=window.pk).update(opened_at=F("opened_at") - timedelta(seconds=61),
                                                      last_at=F("last_at") - timedelta(seconds=61))
    assert post(trigger, Authorization="Bearer kzt_later").status_code == 401
    assert post(trigger, Authorization="Bearer kzt_later").status_code == 401
    first, later = refused(trigger)
    assert later.data["previous_window"]["refusals"] == 20 and later.data["refusal_window"] != window.pk
    assert RefusalWindow.objects.get(pk=later.data["refusal_window"]).count == 2
    assert not RefusalWindow.objects.filter(pk=ancient.pk).exists() and RefusalWindow.objects.filter(pk=window.pk).exists()


@pytest.mark.django_db
def test_a_flood_of_refusals_logs_one_warning_per_window(graph, user, caplog):
    """Django logs every 4xx as a "django.request" warning: the calls counted on an open window are
    not logged again (the server log stays readable under a flood, like the audit log)."""
    trigger, _ = services.trigger_create(graph=graph, user=user)
    other, _ = services.trigger_create(graph=graph, user=user)
    with caplog.at_level("WARNING", logger="django.request"):
        for i in range(10):
            assert post(trigger, Authorization=f"Bearer kzt_guess_{i}").status_code == 401
        assert post(other).status_code == 401
    lines = [r for r in caplog.records if r.name == "django.request"]
    assert len(lines) == 2, [r.getMessage() for r in lines]
    assert RefusalWindow.objects.get(trigger=trigger).count == 10


@pytest.mark.django_db
def test_each_status_has_its_window_and_refusals_after_the_secret_are_one_row_each(graph, user):
    trigger, secret = services.trigger_create(graph=graph, user=user, max_body_bytes=50, mapping={"task": "/missing"})
    for _ in range(5):
        assert post(trigger, b'{"task": "' + b"x" * 100 + b'"}', Authorization="Bearer kzt_guess").status_code == 413
        assert post(trigger, Authorization="Bearer kzt_guess").status_code == 401
        assert post(trigger, Authorization=f"Bearer {secret}").status_code == 400  # let through: its own row
    rows = refused(trigger)
    assert sorted(r.data["http_status"] for r in rows) == [400, 400, 400, 400, 400, 401, 413]
    assert sorted(RefusalWindow.objects.filter(trigger=trigger).values_list("http_status", "count")) == [(401, 5), (413, 5)]
    other, _ = services.trigger_create(graph=graph, user=user)
    assert post(other).status_code == 401
    assert len(refused(other)) == 1, "per trigger"


@pytest.mark.django_db(transaction=True)
def test_concurrent_refusals_open_one_window(graph, user):
    """Refusals at once, each in its own transaction and connection (8 at a time, 10 triggers):
    one row per trigger, counting them all."""
    triggers = [services.trigger_create(graph=graph, user=user)[0] for _ in range(10)]
    start = threading.Barrier(8)

    def refuse(i: int) -> None:
        try:
            start.wait(timeout=30)
            services.trigger_refused(trigger=triggers[i // 8], status=401, reason=f"wrong token {i}",
                                     call={"remote_addr": "203.0.113.9"})
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(refuse, range(80)))
    for trigger in triggers:
        [row] = refused(trigger)
        assert RefusalWindow.objects.get(pk=row.data["refusal_window"]).count == 8
