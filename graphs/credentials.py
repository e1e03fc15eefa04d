"""Stored API keys: encrypted at rest (Fernet), resolved by name for a run's agents, and never
sent back to a browser (the API shows a name and a hint such as "sk-…a1b2")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from kaizen_web.crypto import InvalidToken, fernet

from .models import Credential
from .signals import action as audit


def hint_for(api_key: str) -> str:
    return f"{api_key[:3]}…{api_key[-4:]}" if len(api_key) >= 12 else "…"


@transaction.atomic
def credential_set(*, owner, name: str, api_key: str, base_url: str = "") -> tuple[Credential, bool]:
    """Create a credential, or rotate the key of an existing one. Returns (credential, created)."""
    token = fernet().encrypt(api_key.encode())
    credential, created = Credential.objects.select_for_update().get_or_create(
        owner=owner, name=name, defaults={"encrypted_key": token, "hint": hint_for(api_key), "base_url": base_url})
    if not created:
        credential.encrypted_key, credential.hint, credential.rotated_at = token, hint_for(api_key), timezone.now()
        if base_url:
            credential.base_url = base_url
        credential.save()
    audit("credential.added" if created else "credential.rotated", actor=owner, object_type="credential", object_id=credential.pk, owner_id=owner.pk, summary=f"{name} ({credential.hint})")
    return credential, created


def credential_secret(credential: Credential) -> str | None:
    try:
        return fernet().decrypt(bytes(credential.encrypted_key)).decode()
    except InvalidToken:  # encrypted under another key: unusable, never crash the run here
        return None


def credential_resolver(run: Any, recorder: Any) -> Callable[[str], Awaitable[str | None]]:
    """Async lookup of the graph owner's key by name, on the run's database thread."""
    owner_id = run.graph.owner_id

    def lookup(name: str) -> str | None:
        credential = Credential.objects.filter(owner_id=owner_id, name=name).first()
        return credential_secret(credential) if credential else None

    async def resolve(name: str) -> str | None:
        return await recorder.db(lookup, name)

    return resolve
