"""Stored API keys: encrypted at rest (Fernet), resolved by name for a run's agents, and never
sent back to a browser (the API shows a name and a hint such as "sk-…a1b2")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kaizen_web.crypto import InvalidToken, fernet

from .models import Credential
from .signals import action as audit


def hint_for(api_key: str) -> str:
    return f"{api_key[:3]}…{api_key[-4:]}" if len(api_key) >= 12 else "…"


@transaction.atomic
def credential_set(*, owner, name: str, api_key: str, base_url: str = "", workspace: Any = None) -> tuple[Credential, bool]:
    """Create a credential in ``workspace`` (``owner``'s personal one when not given), or rotate
    the key of an existing one. Returns (credential, created)."""
    if workspace is None:
        from workspaces.services import ensure_personal_workspace

        workspace = ensure_personal_workspace(owner)
    token = fernet().encrypt(api_key.encode())
    credential, created = Credential.objects.select_for_update().get_or_create(
        workspace=workspace, name=name,
        defaults={"owner": owner, "encrypted_key": token, "hint": hint_for(api_key), "base_url": base_url})
    if not created:
        credential.encrypted_key, credential.hint, credential.rotated_at = token, hint_for(api_key), timezone.now()
        if base_url:
            credential.base_url = base_url
        credential.save()
    audit("credential.added" if created else "credential.rotated", actor=owner, object_type="credential", object_id=credential.pk, owner_id=owner.pk, workspace_id=workspace.pk, summary=f"{name} ({credential.hint})")
    return credential, created


def credential_secret(credential: Credential) -> str | None:
    try:
        return fernet().decrypt(bytes(credential.encrypted_key)).decode()
    except InvalidToken:  # encrypted under another key: unusable, never crash the run here
        return None


def credential_fits(credential: Credential, base_url: str | None) -> bool:
    """May ``credential``'s key go to ``base_url``? To the operator's endpoint (or none named)
    always; to any other only if the key was stored for that URL."""
    from .engine.llm.urlguard import normalize

    if not base_url or normalize(base_url) == normalize(settings.OPENAI_BASE_URL or None):
        return True
    return bool(credential.base_url) and normalize(credential.base_url) == normalize(base_url)


def credential_resolver(run: Any, recorder: Any) -> Callable[[str, str | None], Awaitable[str | None]]:
    """Async lookup of a key by name in the run's workspace, on the run's database thread. For an
    old-style node ``base_url`` other than the operator's, only a key stored for that very URL
    (``Credential.base_url``) is given: a workspace's editors cannot send its keys elsewhere."""
    workspace_id = run.graph.workspace_id

    def lookup(name: str, base_url: str | None) -> str | None:
        credential = Credential.objects.filter(workspace_id=workspace_id, name=name).first()
        if credential is None or not credential_fits(credential, base_url):
            return None
        return credential_secret(credential)

    async def resolve(name: str, base_url: str | None = None) -> str | None:
        return await recorder.db(lookup, name, base_url)

    return resolve
