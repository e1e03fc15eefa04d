"""User actions land in the audit log, in the service's transaction."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEntry
from graphs import services
from tests.helpers import chain

pytestmark = pytest.mark.django_db


def events_for(graph_id):
    return list(AuditEntry.objects.filter(graph_id=graph_id).order_by("id").values_list("event", "actor_name"))


def test_graph_and_run_actions_are_recorded(user):
    version = services.graph_create(owner=user, name="g", spec=chain(1))
    graph = version.graph
    services.graph_save(graph=graph, user=user, spec=chain(2), message="two steps")
    services.graph_restore(graph=graph, user=user, number=1)
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    services.run_cancel(run=run, user=user)
    services.run_resume(run=run, user=user)
    assert events_for(graph.pk) == [("graph.created", "alice"), ("graph.saved", "alice"), ("graph.restored", "alice"),
                                    ("graph.saved", "alice"), ("run.started", "alice"), ("run.cancelled", "alice"),
                                    ("run.resumed", "alice")]
    started = AuditEntry.objects.get(event="run.started")
    assert started.run_id == run.pk and started.owner_id == user.pk and started.data["inputs"] == {"task": "t"}


def test_invalid_save_leaves_no_entry(user):
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    with pytest.raises(services.ServiceError):
        services.graph_save(graph=graph, user=user, spec={"nodes": "nope"})
    assert [e for e, _ in events_for(graph.pk)] == ["graph.created"]


def test_delete_and_login_are_recorded(user, api_client):
    graph = services.graph_create(owner=user, name="doomed", spec=chain(1)).graph
    assert api_client.delete(f"/api/graphs/{graph.pk}/").status_code == 204
    deleted = AuditEntry.objects.get(event="graph.deleted")
    assert deleted.graph_id == graph.pk and deleted.actor_id == user.pk
    assert Client().login(username="alice", password="pw-alice-123")
    login = AuditEntry.objects.filter(event="user.login").latest("id")
    assert login.actor_id == user.pk and login.owner_id == user.pk


def test_api_user_sees_only_own_hooks_and_secret_once(user, other_user, api_client):
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    created = api_client.post(f"/api/graphs/{graph.pk}/hooks/",
                              {"kind": "webhook", "url": "http://127.0.0.1:9/x", "events": ["run_finished"]}, format="json")
    assert created.status_code == 201 and len(created.data["secret"]) > 20
    listed = api_client.get(f"/api/graphs/{graph.pk}/hooks/").json()
    assert [h["id"] for h in listed] == [created.data["id"]] and "secret" not in listed[0]
    bad = api_client.post(f"/api/graphs/{graph.pk}/hooks/", {"kind": "slow_node"}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "threshold_ms" and bad.json()["detail"]
    bob = APIClient()
    bob.force_authenticate(other_user)
    assert bob.get(f"/api/graphs/{graph.pk}/hooks/").status_code == 404
    patched = api_client.patch(f"/api/graphs/{graph.pk}/hooks/{created.data['id']}/", {"enabled": False}, format="json")
    assert patched.json()["enabled"] is False and "secret" not in patched.json()
    assert AuditEntry.objects.filter(event__startswith="hook.", graph_id=graph.pk).count() == 2


def test_api_cancel_names_the_token_authenticated_user(user, api_client):
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    assert api_client.post(f"/api/runs/{run.pk}/cancel/").status_code == 202
    cancelled = AuditEntry.objects.get(event="run.cancelled")
    assert (cancelled.actor_id, cancelled.status, cancelled.run_id) == (user.pk, "cancelled", run.pk)


def test_key_added_and_rotated_are_recorded_without_the_key(user):
    from graphs.credentials import credential_set

    credential_set(owner=user, name="openai", api_key="sk-first-secret-1234")
    credential_set(owner=user, name="openai", api_key="sk-second-secret-9876")
    rows = list(AuditEntry.objects.filter(object_type="credential").order_by("id"))
    assert [(r.event, r.actor_id, r.owner_id) for r in rows] == [("credential.added", user.pk, user.pk),
                                                                 ("credential.rotated", user.pk, user.pk)]
    assert "secret" not in str([(r.summary, r.data) for r in rows]) and rows[1].summary.endswith("9876)")


def test_a_sign_in_belongs_to_the_user_not_to_a_workspace(user, other_user):
    """A login is the user's event: in no workspace, absent from every workspace's log and
    export, shown to that user alone under "Your account" (with the address it came from)."""
    from workspaces.models import Membership, Role, Workspace

    personal = Workspace.objects.get(personal_for=user)
    Membership.objects.create(workspace=personal, user=other_user, role=Role.ADMIN)  # someone else in it
    alice = Client(REMOTE_ADDR="203.0.113.7")
    signed_in = alice.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})  # the real form
    assert signed_in.status_code == 302, signed_in.content[:300]
    login = AuditEntry.objects.filter(event="user.login", actor_id=user.pk).latest("id")
    assert login.workspace_id is None and login.data["ip"] == "203.0.113.7"
    html = alice.get("/audit/").content.decode()
    assert 'data-testid="account"' in html and "203.0.113.7" in html
    assert alice.get(f"/audit/{login.pk}/").status_code == 200
    bob = Client()
    bob.force_login(other_user)
    bob.post("/workspaces/switch/", {"workspace": personal.pk})
    assert "203.0.113.7" not in bob.get("/audit/").content.decode()
    assert bob.get(f"/audit/{login.pk}/").status_code == 404
    assert "203.0.113.7" not in b"".join(bob.get("/audit/export.jsonl?show=all").streaming_content).decode()
    api = APIClient()
    api.force_authenticate(other_user)
    assert "203.0.113.7" not in json.dumps(api.get(f"/api/audit/entries/?workspace={personal.pk}").json())


def test_api_tokens_made_and_revoked_are_listed_under_the_users_account_alone(user, other_user):
    """Making or revoking an API token is the user's own action (in no workspace): before, such
    entries were in no view at all; now the user sees them under "Your account", nobody else does."""
    from apitokens.services import token_create, token_revoke

    row, _token = token_create(user=user, name="laptop cli")
    token_revoke(token=row, user=user)
    events = list(AuditEntry.objects.filter(actor_id=user.pk, object_type="access_token").order_by("id").values_list("event", "workspace_id"))
    assert events == [("token_created", None), ("token_revoked", None)]
    alice = Client()
    alice.force_login(user)
    account = alice.get("/audit/").content.decode().split('data-testid="account"')[1]
    assert "API token &#x27;laptop cli&#x27;" in account and "created" in account and "revoked" in account, account[:600]
    bob = Client()
    bob.force_login(other_user)
    assert "laptop cli" not in bob.get("/audit/").content.decode()
    assert "laptop cli" not in b"".join(bob.get("/audit/export.jsonl?show=all").streaming_content).decode()
