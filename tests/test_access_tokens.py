"""Personal access tokens: made on the API tokens page (shown once), stored as a hash, used as
``Authorization: Bearer``, last use recorded at most once a minute, revoked or expired -> 401,
throttled per token, acting as their user (another user's objects stay 404)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apitokens.models import PersonalAccessToken
from apitokens.services import token_create
from audit.models import AuditEntry
from graphs import services
from tests.helpers import chain

pytestmark = pytest.mark.django_db


def bearer(token: str, keyword: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {token}")
    return client


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def create_on_page(user, name="ci", expires_in="90") -> tuple[str, str]:
    """(the token shown, the page's HTML) after creating one through the htmx form."""
    response = page_client(user).post("/settings/tokens/", {"name": name, "expires_in": expires_in}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    html = response.content.decode()
    start = html.index('data-testid="new-token">') + len('data-testid="new-token">')
    return html[start:html.index("<", start)], html


def test_created_on_the_page_shown_once_and_stored_only_as_a_hash(user):
    token, html = create_on_page(user, name="deploy bot")
    assert token.startswith("kzn_") and len(token) > 40
    row = PersonalAccessToken.objects.get(user=user)
    assert row.name == "deploy bot" and row.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[:12] and row.expires_at > timezone.now() + timedelta(days=89)
    # nowhere at rest: not in the token's row, not in the audit log
    stored = json.dumps(list(PersonalAccessToken.objects.values()), default=str)
    assert token not in stored and token[12:] not in stored
    audit = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert "token_created" in audit and token[12:] not in audit
    # never shown again: the page lists its prefix only
    again = page_client(user).get("/settings/tokens/").content.decode()
    assert token not in again and f"{row.prefix}…" in again and "deploy bot" in again


def test_bearer_token_acts_as_its_user(user, other_user):
    _row, token = token_create(user=user, name="t")
    mine = services.graph_create(owner=user, name="mine", spec=chain(1)).graph
    theirs = services.graph_create(owner=other_user, name="theirs", spec=chain(1)).graph
    client = bearer(token)
    listed = client.get("/api/graphs/")
    assert listed.status_code == 200 and [g["id"] for g in listed.json()] == [mine.pk]
    assert client.get(f"/api/graphs/{theirs.pk}/").status_code == 404
    assert bearer(token, "Token").get("/api/graphs/").status_code == 200  # (the old keyword still works)


def test_last_used_is_written_at_most_once_a_minute(user):
    row, token = token_create(user=user, name="t")
    assert row.last_used_at is None
    client = bearer(token)
    assert client.get("/api/graphs/").status_code == 200
    row.refresh_from_db()
    first = row.last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=30)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/graphs/").status_code == 200
    assert not [q for q in queries.captured_queries if "UPDATE" in q["sql"] and "apitokens" in q["sql"]]
    row.refresh_from_db()
    assert row.last_used_at == first
    PersonalAccessToken.objects.filter(pk=row.pk).update(last_used_at=first - timedelta(minutes=2))
    assert client.get("/api/graphs/").status_code == 200
    row.refresh_from_db()
    assert row.last_used_at > first - timedelta(seconds=1)
    assert "just now" in page_client(user).get("/settings/tokens/").content.decode()  # (last used, as the audit log says it)


def test_revoked_on_the_page_then_401(user):
    row, token = token_create(user=user, name="t")
    client = bearer(token)
    assert client.get("/api/graphs/").status_code == 200
    response = page_client(user).post(f"/settings/tokens/{row.pk}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'data-state="revoked"' in response.content.decode()
    denied = client.get("/api/graphs/")
    assert denied.status_code == 401 and denied["WWW-Authenticate"].startswith("Bearer")
    assert AuditEntry.objects.filter(event="token_revoked", object_id=str(row.pk)).exists()


def test_expired_token_is_401(user):
    row, token = token_create(user=user, name="t", expires_at=timezone.now() + timedelta(days=1))
    assert bearer(token).get("/api/graphs/").status_code == 200
    PersonalAccessToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert bearer(token).get("/api/graphs/").status_code == 401
    assert 'data-state="expired"' in page_client(user).get("/settings/tokens/").content.decode()


def test_unknown_or_malformed_tokens_are_401():
    assert bearer("kzn_" + "x" * 43).get("/api/graphs/").status_code == 401
    assert APIClient(HTTP_AUTHORIZATION="Bearer a b").get("/api/graphs/").status_code == 401
    assert APIClient().get("/api/graphs/").status_code == 401  # nobody: asked to authenticate


def test_an_inactive_users_token_is_401(user):
    _row, token = token_create(user=user, name="t")
    user.is_active = False
    user.save()
    assert bearer(token).get("/api/graphs/").status_code == 401


def test_another_users_token_cannot_be_revoked_or_seen(user, other_user):
    row, token = token_create(user=other_user, name="theirs")
    assert page_client(user).post(f"/settings/tokens/{row.pk}/revoke/").status_code == 404
    assert "theirs" not in page_client(user).get("/settings/tokens/").content.decode()
    assert bearer(token).get("/api/graphs/").status_code == 200


def test_a_token_needs_a_name_and_a_listed_expiry(user):
    client = page_client(user)
    response = client.post("/settings/tokens/", {"name": "  ", "expires_in": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "give the token a name" in response.content.decode()
    assert client.post("/settings/tokens/", {"name": "x", "expires_in": "9999"}).status_code == 400
    assert not PersonalAccessToken.objects.exists()
    _token, _html = create_on_page(user, expires_in="")
    assert PersonalAccessToken.objects.get().expires_at is None


def test_throttled_per_token(user, settings):
    settings.KAIZEN_API_RATES = {"user": "1000/min", "anon": None, "runs": None, "token": "3/min"}
    _a, first = token_create(user=user, name="ci")
    _b, second = token_create(user=user, name="laptop")
    codes = [bearer(first).get("/api/graphs/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = bearer(first).get("/api/graphs/")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert bearer(second).get("/api/graphs/").status_code == 200  # the same user's other token has its own count


def test_drf_tokens_of_before_are_moved_and_keep_working(user):
    """apitokens/migrations/0002: a DRF token becomes a hashed, revocable personal token."""
    from importlib import import_module

    from django.apps import apps
    from rest_framework.authtoken.models import Token

    old = Token.objects.create(user=user)
    import_module("apitokens.migrations.0002_move_drf_tokens").move(apps, None)
    assert not Token.objects.exists()
    row = PersonalAccessToken.objects.get(user=user)
    assert row.key_hash == hashlib.sha256(old.key.encode()).hexdigest() and old.key not in json.dumps(
        list(PersonalAccessToken.objects.values()), default=str).replace(row.prefix, "")
    assert bearer(old.key, "Token").get("/api/graphs/").status_code == 200


def test_manage_py_kaizen_token_prints_a_working_token(user):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("kaizen_token", user.username, "--name", "cli", stdout=out)
    token = out.getvalue().split()[2]
    assert bearer(token).get("/api/graphs/").status_code == 200
    assert PersonalAccessToken.objects.get(user=user).name == "cli"
