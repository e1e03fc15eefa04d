"""Webhook triggers: POST /hooks/t/<id>/ with a header token or an HMAC signature; every call is
audited, accepted or refused, with its reason; the published version runs."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from django.test import Client

from audit.models import AuditEntry
from graphs import services as graph_services
from graphs.api.throttles import over_limit, retry_after
from graphs.models import Run
from tests.helpers import chain
from triggers import services
from triggers.models import RefusalWindow, WebhookTrigger

pytestmark = pytest.mark.django_db


def post(trigger: WebhookTrigger, body: bytes | dict | None = None, client: Client | None = None, **headers: str):
    raw = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    return (client or Client()).post(trigger.path, raw, content_type="application/json", headers=headers)


def calls(trigger: WebhookTrigger) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(event="trigger.called", object_type="trigger", object_id=str(trigger.pk)).order_by("id"))


def sign(secret: str, body: bytes, at: float | None = None) -> dict[str, str]:
    """The two headers of a signed call (written out here, not with the app's own helper)."""
    stamp = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Kaizen-Timestamp": stamp, "X-Kaizen-Signature": f"sha256={digest}"}


def test_a_wrong_token_is_refused_with_401_and_audited(graph, user):
    trigger, secret = services.trigger_create(graph=graph, user=user, mapping={"task": "/task"})
    for headers, reason in (({"Authorization": "Bearer kzt_wrong"}, "wrong token"), ({}, "no token")):
        response = post(trigger, {"task": "x"}, **headers)
        assert response.status_code == 401
        assert reason in response.json()["detail"]
    assert Run.objects.count() == 0
    entries = calls(trigger)
    assert [(e.status, e.data["http_status"]) for e in entries] == [("refused", 401)], "one row per window (test_refusals)"
    assert "wrong token" in entries[0].summary and entries[0].graph_id == graph.pk and entries[0].owner_id == user.pk
    window = RefusalWindow.objects.get(pk=entries[0].data["refusal_window"])
    assert window.count == 2 and "no token" in window.last_reason
    assert secret not in json.dumps([e.data for e in entries])


def test_the_right_token_starts_the_published_version_with_mapped_inputs(graph, user, django_capture_on_commit_callbacks):
    trigger, secret = services.trigger_create(graph=graph, user=user, mapping={"task": "/issue/title"})
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = post(trigger, {"issue": {"title": "fix the login page"}}, Authorization=f"Bearer {secret}")
    assert response.status_code == 202, response.content
    body = response.json()
    run = Run.objects.get(pk=body["run_id"])
    assert body == {"run_id": run.pk, "status": "queued", "url": f"/api/runs/{run.pk}/"}
    assert run.inputs == {"task": "fix the login page"} and run.version.number == 1 and run.graph_id == graph.pk
    assert (run.origin, run.origin_label) == ("trigger", f"trigger #{trigger.pk}"), "the run says what started it"
    assert len(enqueued) == 1, "enqueued on commit, as the API's POST run"
    accepted = calls(trigger)[-1]
    assert accepted.status == "accepted" and accepted.run_id == run.pk
    # the secret is not stored: only its SHA-256
    stored = WebhookTrigger.objects.get(pk=trigger.pk)
    assert stored.token_sha256 == hashlib.sha256(secret.encode()).hexdigest() and secret not in stored.encrypted_secret
    # X-Kaizen-Token works too; dotted paths as well as JSON pointers
    services.trigger_update(trigger=trigger, user=user, mapping={"task": "issue.labels.0"})
    response = post(trigger, {"issue": {"labels": ["bug"]}}, **{"X-Kaizen-Token": secret})
    assert response.status_code == 202 and Run.objects.get(pk=response.json()["run_id"]).inputs == {"task": "bug"}


def test_hmac_signature_over_the_timestamp_and_the_raw_body(graph, user):
    trigger, secret = services.trigger_create(graph=graph, user=user, auth="hmac")
    body = b'{"task": "signed"}'
    assert post(trigger, body, **sign(secret, body)).status_code == 202
    tampered = post(trigger, b'{"task": "tampered"}', **sign(secret, body))
    assert tampered.status_code == 401 and tampered.json()["detail"] == "wrong signature"
    headers = sign(secret, body, time.time() - 1)
    moved = post(trigger, body, **{**headers, "X-Kaizen-Timestamp": str(int(time.time()) - 2)})  # the time is signed
    assert moved.status_code == 401 and moved.json()["detail"] == "wrong signature"
    assert post(trigger, body, Authorization=f"Bearer {secret}").status_code == 401  # a token is not a signature
    unsigned_time = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()  # the old body-only scheme
    old = post(trigger, body, **{"X-Kaizen-Signature": f"sha256={unsigned_time}"})
    assert old.status_code == 401 and "X-Kaizen-Timestamp" in old.json()["detail"]
    assert [e.status for e in calls(trigger)] == ["accepted", "refused"]  # the 401s: one row counting them
    assert RefusalWindow.objects.get(pk=calls(trigger)[1].data["refusal_window"]).count == 4
    stored = WebhookTrigger.objects.get(pk=trigger.pk)
    assert secret not in stored.encrypted_secret and not stored.token_sha256  # encrypted at rest


def test_hmac_calls_cannot_be_replayed_or_sent_outside_the_window(graph, user, settings):
    settings.KAIZEN_TRIGGER_SIGNATURE_TOLERANCE_S = 300
    trigger, secret = services.trigger_create(graph=graph, user=user, auth="hmac")
    body = b'{"task": "once"}'
    headers = sign(secret, body)
    assert post(trigger, body, **headers).status_code == 202
    replayed = post(trigger, body, **headers)
    assert replayed.status_code == 401 and "replayed" in replayed.json()["detail"]
    assert post(trigger, body, **{k.upper(): v for k, v in headers.items()}).status_code == 401  # header case changes nothing
    for skew in (-330, 330, -10_000):  # (30 s of margin: a loaded CI takes seconds per request)
        stale = post(trigger, body, **sign(secret, body, time.time() + skew))
        assert stale.status_code == 401 and "away from the server's clock" in stale.json()["detail"], skew
    assert post(trigger, body, **sign(secret, body, time.time() - 280)).status_code == 202  # inside the window
    garbled = post(trigger, body, **{**sign(secret, body), "X-Kaizen-Timestamp": "soon"})
    assert garbled.status_code == 401 and "whole seconds" in garbled.json()["detail"]
    assert Run.objects.count() == 2
    [row] = [e for e in calls(trigger) if e.status == "refused"]  # the first 401 of the window, counting all six
    assert "replayed" in row.data["reason"] and RefusalWindow.objects.get(pk=row.data["refusal_window"]).count == 6


def test_calls_without_the_secret_do_not_spend_the_rate_budget(graph, user):
    trigger, secret = services.trigger_create(graph=graph, user=user, rate_limit="2/min")
    for _ in range(10):
        assert post(trigger, {"task": "x"}, Authorization="Bearer kzt_guess").status_code == 401
    statuses = [post(trigger, {"task": "x"}, Authorization=f"Bearer {secret}").status_code for _ in range(3)]
    assert statuses == [202, 202, 429]
    signed, key = services.trigger_create(graph=graph, user=user, auth="hmac", rate_limit="1/min")
    body = b'{"task": "y"}'
    assert post(signed, body, **sign(key, body)).status_code == 202
    later = sign(key, body, time.time() + 1)
    assert post(signed, body, **later).status_code == 429
    # a call refused for the rate was not taken: the same signed call is not a replay when sent again
    assert "replayed" not in post(signed, body, **later).json()["detail"]


def test_disabled_trigger_answers_410_and_a_missing_one_404(graph, user):
    trigger, secret = services.trigger_create(graph=graph, user=user)
    services.trigger_update(trigger=trigger, user=user, enabled=False)
    response = post(trigger, {"task": "x"}, Authorization=f"Bearer {secret}")
    assert response.status_code == 410 and "disabled" in response.json()["detail"]
    assert calls(trigger)[-1].data["reason"] == "disabled"
    assert Client().post("/hooks/t/nope/", b"{}", content_type="application/json").status_code == 404
    assert Client().get(trigger.path).status_code == 405
    assert Run.objects.count() == 0


def test_retry_after_is_whole_seconds_and_never_zero_at_a_window_end():
    # Over "2/min" 0.3 s before the minute ends: the wait is 0.3 s, the header still says 1.
    wait = over_limit("2/min", 119.7, lambda window, period: (3, 0))
    assert wait is not None and wait < 1 and retry_after(wait) == 1
    assert retry_after(0.0) == 1 and retry_after(1.2) == 2 and retry_after(59.0) == 59


def test_a_body_over_the_size_limit_is_413_json(graph, user):
    trigger, secret = services.trigger_create(graph=graph, user=user, max_body_bytes=100)
    response = post(trigger, {"task": "x" * 200}, Authorization=f"Bearer {secret}")
    assert response.status_code == 413 and response["Content-Type"] == "application/json"
    assert "100 bytes" in response.json()["detail"]
    assert calls(trigger)[-1].data["http_status"] == 413 and Run.objects.count() == 0


def test_over_the_rate_limit_is_429_with_retry_after(graph, user):
    trigger, secret = services.trigger_create(graph=graph, user=user, rate_limit="2/min")
    statuses = [post(trigger, {"task": "x"}, Authorization=f"Bearer {secret}").status_code for _ in range(3)]
    assert statuses == [202, 202, 429]
    limited = post(trigger, {"task": "x"}, Authorization=f"Bearer {secret}")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert Run.objects.count() == 2 and calls(trigger)[-1].data["http_status"] == 429
    other, other_secret = services.trigger_create(graph=graph, user=user, rate_limit="2/min")
    assert post(other, {"task": "x"}, Authorization=f"Bearer {other_secret}").status_code == 202  # per trigger


def test_no_published_version_is_409_that_says_what_to_do(user):
    graph = graph_services.graph_create(owner=user, name="draft only", spec=chain(1)).graph
    trigger, secret = services.trigger_create(graph=graph, user=user)
    response = post(trigger, {"task": "x"}, Authorization=f"Bearer {secret}")
    assert response.status_code == 409
    assert "no published version" in response.json()["detail"] and "Publish" in response.json()["detail"]
    assert calls(trigger)[-1].status == "refused" and Run.objects.count() == 0


def test_inputs_the_published_version_refuses_are_400_with_the_field(graph, user):
    trigger, secret = services.trigger_create(graph=graph, user=user, mapping={"task": "/missing"})
    response = post(trigger, {"other": 1}, Authorization=f"Bearer {secret}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "inputs.task"
    assert post(trigger, b"{not json", Authorization=f"Bearer {secret}").status_code == 400
    assert post(trigger, b"[" * 100 + b"]" * 100, Authorization=f"Bearer {secret}").status_code == 400
    assert [e.data["http_status"] for e in calls(trigger)] == [400, 400, 400]


def test_the_published_version_runs_and_saving_a_draft_changes_nothing(graph, user):
    trigger, secret = services.trigger_create(graph=graph, user=user)
    draft = chain(2)
    draft["inputs"]["extra"] = {"type": "string"}  # a draft that would refuse today's callers
    graph_services.graph_save(graph=graph, user=user, spec=draft, message="draft")
    response = post(trigger, {"task": "x"}, Authorization=f"Bearer {secret}")
    assert response.status_code == 202
    assert Run.objects.get(pk=response.json()["run_id"]).version.number == 1
    graph_services.graph_publish(graph=graph, user=user, number=2)
    response = post(trigger, {"task": "x", "extra": "y"}, Authorization=f"Bearer {secret}")
    assert Run.objects.get(pk=response.json()["run_id"]).version.number == 2


def test_regenerating_the_secret_retires_the_old_one(graph, user):
    trigger, old = services.trigger_create(graph=graph, user=user)
    new = services.trigger_regenerate_secret(trigger=trigger, user=user)
    assert new != old
    assert post(trigger, {"task": "x"}, Authorization=f"Bearer {old}").status_code == 401
    assert post(trigger, {"task": "x"}, Authorization=f"Bearer {new}").status_code == 202
    assert AuditEntry.objects.filter(event="trigger.secret_regenerated", graph_id=graph.pk).count() == 1


def test_the_inbound_url_needs_no_csrf_token(graph, user):
    trigger, secret = services.trigger_create(graph=graph, user=user)
    response = post(trigger, {"task": "x"}, client=Client(enforce_csrf_checks=True), Authorization=f"Bearer {secret}")
    assert response.status_code == 202
    # ... and only that view is exempt: the panel's form posts still need one
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(f"/graphs/{graph.pk}/triggers/", {"name": "x"}).status_code == 403


def test_trigger_api_shows_the_secret_once_and_hides_others_graphs(graph, user, other_user, api_client):
    response = api_client.post(f"/api/graphs/{graph.pk}/triggers/", {"name": "ci", "mode": "wait", "wait_s": 10,
                                                                    "mapping": {"task": "/title"}}, format="json")
    assert response.status_code == 201, response.data
    created = response.data
    assert created["secret"].startswith("kzt_") and created["url"].endswith(f"/hooks/t/{WebhookTrigger.objects.get().public_id}/")
    listed = api_client.get(f"/api/graphs/{graph.pk}/triggers/").data
    assert "secret" not in listed[0] and listed[0]["secret_hint"] == created["secret_hint"]
    bad = api_client.post(f"/api/graphs/{graph.pk}/triggers/", {"wait_s": 600, "rate_limit": "lots", "bogus": 1}, format="json")
    assert bad.status_code == 400 and bad.data["errors"][0]["path"] == "bogus"
    bad = api_client.post(f"/api/graphs/{graph.pk}/triggers/", {"wait_s": 600, "rate_limit": "lots"}, format="json")
    assert {e["path"] for e in bad.data["errors"]} == {"wait_s", "rate_limit"}
    from rest_framework.test import APIClient

    other = APIClient()
    other.force_authenticate(other_user)
    assert other.get(f"/api/graphs/{graph.pk}/triggers/").status_code == 404
    assert other.post(f"/api/graphs/{graph.pk}/triggers/", {}, format="json").status_code == 404
    assert other.post(f"/api/graphs/{graph.pk}/versions/1/publish/").status_code == 404


def test_publish_api(user, api_client):
    graph_id = api_client.post("/api/graphs/", {"name": "g", "spec": chain(1)}, format="json").data["id"]
    assert api_client.get(f"/api/graphs/{graph_id}/").data["published_version"] is None
    assert api_client.post(f"/api/graphs/{graph_id}/versions/1/publish/").data["published_version"] == 1
    assert api_client.post(f"/api/graphs/{graph_id}/versions/9/publish/").status_code == 404
    assert api_client.post(f"/api/graphs/{graph_id}/unpublish/").data["published_version"] is None
    assert AuditEntry.objects.filter(event="graph.published", graph_id=graph_id).count() == 2
