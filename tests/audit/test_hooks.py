"""User hooks: signed webhook delivery with retries, slow-node and error alerts, and a failing hook
never failing a run. The end-to-end test uses a real Celery worker process."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from audit import services as audit_services
from audit.hooks import enqueue_delivery
from audit.models import AuditEntry, GraphHook, HookDelivery
from audit.tasks import SIGNATURE_HEADER, deliver_once
from graphs import services
from graphs.models import RunEvent
from tests.helpers import chain, wait_for_run, wait_until


def signed_ok(request: dict, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"][SIGNATURE_HEADER], expected)


@pytest.mark.django_db
def test_delivery_is_signed_and_recorded(user, receiver):
    server = receiver([200])
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    hook = GraphHook.objects.create(graph=graph, kind="webhook", url=server.url)
    delivery = deliver_once(hook, {"event": "run_finished", "run_id": 7, "data": {"status": "succeeded"}}, "d1", 1)
    assert delivery.ok and delivery.status_code == 200 and delivery.next_retry_s is None
    [request] = server.requests
    assert signed_ok(request, hook.signing_secret) and not signed_ok(request, "wrong-secret")
    assert json.loads(request["body"])["data"] == {"status": "succeeded"}
    assert request["headers"]["X-Kaizen-Delivery"] == "d1"


@pytest.mark.django_db
def test_failed_attempt_schedules_backoff(user, receiver, settings):
    settings.KAIZEN_HOOK_RETRY_BASE_S = 2.0
    server = receiver([500])
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    hook = GraphHook.objects.create(graph=graph, kind="webhook", url=server.url)
    first = deliver_once(hook, {"event": "x"}, "d", 1)
    third = deliver_once(hook, {"event": "x"}, "d", 3)
    assert (first.ok, first.error, first.next_retry_s, third.next_retry_s) == (False, "HTTP 500", 2.0, 8.0)
    settings.KAIZEN_HOOK_MAX_ATTEMPTS = 3
    assert deliver_once(hook, {"event": "x"}, "d", 3).next_retry_s is None  # gave up


def test_run_with_hooks_end_to_end(user, start_worker, fake_llm, receiver):
    start_worker("w1", KAIZEN_HOOK_RETRY_BASE_S="0.2")
    server = receiver([500, 200])  # first attempt fails, the retry succeeds
    graph = services.graph_create(owner=user, name="hooked", spec=chain(2)).graph
    webhook = audit_services.hook_create(graph=graph, user=user, kind="webhook", url=server.url, events=["run_finished"])
    audit_services.hook_create(graph=graph, user=user, kind="slow_node", threshold_ms=1)
    dead = audit_services.hook_create(graph=graph, user=user, kind="webhook", url="http://127.0.0.1:9/nothing-listens")
    fake_llm.script(latency=0.05)
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    run = wait_for_run(run.pk, 30)
    assert run.status == "succeeded", run.error  # a failing hook (the dead URL) never fails a run

    deliveries = wait_until(lambda: list(HookDelivery.objects.filter(hook=webhook).order_by("attempt"))
                            if HookDelivery.objects.filter(hook=webhook, ok=True).exists() else None, 20, message="retry")
    assert [(d.attempt, d.ok, d.status_code) for d in deliveries] == [(1, False, 500), (2, True, 200)]
    assert deliveries[0].next_retry_s == pytest.approx(0.2)
    assert all(signed_ok(r, webhook.signing_secret) for r in server.requests) and len(server.requests) == 2
    payload = server.payloads()[-1]
    assert (payload["event"], payload["run_id"], payload["data"]["status"]) == ("run_finished", run.pk, "succeeded")

    # every stored run event has its audit copy, plus the slow-node alerts (2 nodes over 1 ms)
    copied = AuditEntry.objects.filter(run_id=run.pk).exclude(event__startswith="alert.").exclude(event__startswith="run.")
    assert copied.count() == RunEvent.objects.filter(run_id=run.pk).count()
    alerts = AuditEntry.objects.filter(run_id=run.pk, event="alert.slow_node")
    assert sorted(alerts.values_list("node_id", flat=True)) == ["s1", "s2"]
    post = copied.filter(event="post_node").first()
    assert post.data["node_kind"] == "agent" and post.owner_id == user.pk and post.actor_id == user.pk
    assert wait_until(lambda: HookDelivery.objects.filter(hook=dead, ok=False).exists(), 10, message="dead hook tried")


def test_error_alert_and_json_logs_from_the_worker(user, start_worker, fake_llm, tmp_path):
    worker = start_worker("w1")
    graph = services.graph_create(owner=user, name="fails", spec=chain(1)).graph
    audit_services.hook_create(graph=graph, user=user, kind="error")
    fake_llm.script(match="step 1", status=400)
    run = wait_for_run(services.run_start(graph=graph, user=user, inputs={"task": "t"}).pk, 30)
    assert run.status == "failed"
    alert = wait_until(lambda: AuditEntry.objects.filter(run_id=run.pk, event="alert.error").first(), 10, message="alert")
    assert alert.node_id == "s1" and alert.status == "alert"
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.startswith("{")]
    assert lines and all({"run_id", "node_id", "user_id"} <= line.keys() for line in lines)
    mine = [line for line in lines if line["run_id"] == run.pk and line["node_id"] == "s1"]
    assert mine and mine[0]["user_id"] == user.pk, "the error alert's log line names run, node and user"


@pytest.mark.django_db
def test_enqueue_is_cheap_and_uses_celery(user, monkeypatch):
    sent = []
    monkeypatch.setattr("audit.tasks.deliver_webhook.apply_async", lambda args, **kw: sent.append(args))
    enqueue_delivery(5, {"event": "on_error"})
    assert sent and sent[0][0] == 5 and sent[0][3] == 1


@pytest.mark.django_db
def test_hook_secret_is_encrypted_at_rest(user):
    from django.db import connection

    from audit.models import GraphHook
    from graphs import services
    from tests.helpers import chain

    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    hook = GraphHook.objects.create(graph=graph, kind="webhook", url="http://127.0.0.1:9/")
    plain = hook.signing_secret
    with connection.cursor() as cursor:
        cursor.execute("select secret from audit_graphhook where id = %s", [hook.pk])
        stored = cursor.fetchone()[0]
    assert len(plain) >= 32 and plain not in stored and stored.startswith("fernet:")
    assert GraphHook.objects.get(pk=hook.pk).signing_secret == plain
