"""API keys: encrypted at rest, never returned, used by the run's agents by name."""

from __future__ import annotations

import pytest
from django.db import connection

from graphs.models import Credential
from tests.helpers import chain, wait_for_run

SECRET = "sk-test-0123456789abcdef"


@pytest.mark.django_db
def test_key_is_encrypted_at_rest_and_never_returned(api_client):
    created = api_client.post("/api/credentials/", {"name": "openai", "api_key": SECRET}, format="json")
    assert created.status_code == 201
    assert SECRET not in created.content.decode() and created.data["hint"] == "sk-…cdef"
    listed = api_client.get("/api/credentials/")
    assert SECRET not in listed.content.decode() and listed.data[0]["name"] == "openai"
    with connection.cursor() as cursor:
        cursor.execute("select encrypted_key from graphs_credential")
        stored = bytes(cursor.fetchone()[0])
    assert SECRET.encode() not in stored
    rotated = api_client.put("/api/credentials/openai/", {"api_key": "sk-rotated-999999999"}, format="json")
    assert rotated.status_code == 200 and rotated.data["rotated_at"] and "rotated-999" not in rotated.content.decode()
    bad = api_client.post("/api/credentials/", {"name": "has space", "api_key": ""}, format="json")
    assert bad.status_code == 400 and {e["path"] for e in bad.data["errors"]} == {"name", "api_key"}


@pytest.mark.django_db
def test_credentials_are_per_user(api_client, other_user):
    from rest_framework.test import APIClient

    api_client.post("/api/credentials/", {"name": "mine", "api_key": SECRET}, format="json")
    intruder = APIClient()
    intruder.force_authenticate(other_user)
    assert intruder.get("/api/credentials/").data == []
    assert intruder.put("/api/credentials/mine/", {"api_key": "x"}, format="json").status_code == 404
    assert Credential.objects.count() == 1


def test_a_run_uses_the_stored_key(user, celery_worker, fake_llm):
    from graphs import services
    from graphs.credentials import credential_set

    credential_set(owner=user, name="team-key", api_key=SECRET)
    graph = services.graph_create(owner=user, name="keyed", spec=chain(1, credential="team-key")).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    assert wait_for_run(run.pk).status == "succeeded"
    assert fake_llm.calls()[0]["authorization"] == f"Bearer {SECRET}"


def test_unknown_credential_fails_the_node_clearly(user, celery_worker, fake_llm):
    from graphs import services

    graph = services.graph_create(owner=user, name="nokey", spec=chain(1, credential="missing")).graph
    run = wait_for_run(services.run_start(graph=graph, user=user, inputs={"task": "t"}).pk)
    assert run.status == "failed" and "unknown credential 'missing'" in run.error["message"]
    assert fake_llm.calls() == []


@pytest.mark.django_db
def test_secret_key_rotation_keeps_stored_secrets(user, settings):
    """A new SECRET_KEY with the old one in SECRET_KEY_FALLBACKS still reads every stored key and
    hook secret; kaizen_rotate_keys re-encrypts them, after which the old key can go."""
    from django.core.management import call_command

    from audit.models import GraphHook
    from graphs import services
    from graphs.credentials import credential_secret, credential_set

    settings.KAIZEN_ENCRYPTION_KEY, settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "", "old-secret-key", []
    credential, _ = credential_set(owner=user, name="openai", api_key=SECRET)
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    hook = GraphHook.objects.create(graph=graph, kind="webhook", url="https://93.184.215.14/h", secret="hook-secret-1")

    settings.SECRET_KEY = "new-secret-key"
    assert credential_secret(Credential.objects.get(pk=credential.pk)) is None  # the old key is gone: unreadable
    settings.SECRET_KEY_FALLBACKS = ["old-secret-key"]
    assert credential_secret(Credential.objects.get(pk=credential.pk)) == SECRET
    call_command("kaizen_rotate_keys")
    settings.SECRET_KEY_FALLBACKS = []  # dropped after the rotation
    assert credential_secret(Credential.objects.get(pk=credential.pk)) == SECRET
    assert GraphHook.objects.get(pk=hook.pk).signing_secret == "hook-secret-1"


@pytest.mark.django_db
def test_explicit_keys_rotate_newest_first(user, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from graphs.credentials import credential_secret, credential_set

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.KAIZEN_ENCRYPTION_KEY = old
    credential, _ = credential_set(owner=user, name="openai", api_key=SECRET)
    settings.KAIZEN_ENCRYPTION_KEY = f"{new},{old}"
    assert credential_secret(Credential.objects.get(pk=credential.pk)) == SECRET
    call_command("kaizen_rotate_keys")
    settings.KAIZEN_ENCRYPTION_KEY = new
    assert credential_secret(Credential.objects.get(pk=credential.pk)) == SECRET
