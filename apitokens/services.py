"""Making and revoking personal access tokens."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import transaction
from django.db.models.signals import post_save
from django.utils import timezone

from audit.services import record_action

from .models import PersonalAccessToken, token_hash

TOKEN_PREFIX = "kzn_"  # recognisable in logs and by secret scanners
DISPLAY_CHARS = 12  # of the token kept for display ("kzn_3fA9c2Qe…")


class TokenError(ValueError):
    pass


def token_create(*, user, name: str, expires_at: datetime | None = None) -> tuple[PersonalAccessToken, str]:
    """A new token for ``user``: (its row, the token itself; shown once, never stored)."""
    name = (name or "").strip()
    if not name:
        raise TokenError("give the token a name")
    if len(name) > 100:
        raise TokenError("a token's name has at most 100 characters")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("the expiry date must be in the future")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        row = PersonalAccessToken.objects.create(user=user, name=name, prefix=token[:DISPLAY_CHARS],
                                                 key_hash=token_hash(token), expires_at=expires_at)
        record_action("token_created", actor=user, object_type="access_token", object_id=row.pk, owner_id=user.pk,
                      summary=f"API token {name!r} ({row.prefix}…) created",
                      data={"name": name, "prefix": row.prefix, "expires_at": expires_at.isoformat() if expires_at else None})
    return row, token


def token_revoke(*, token: PersonalAccessToken, user) -> None:
    """Revoke now (idempotent): the next request with it gets 401."""
    with transaction.atomic():
        updated = PersonalAccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if updated:
            # update() sends no signal: say it, so that every process's cache of authenticated callers
            # (graphs/api/auth_cache.py) drops this token now
            post_save.send(sender=PersonalAccessToken, instance=token, created=False, update_fields={"revoked_at"})
            record_action("token_revoked", actor=user, object_type="access_token", object_id=token.pk, owner_id=token.user_id,
                          summary=f"API token {token.name!r} ({token.prefix}…) revoked", data={"name": token.name})
    token.refresh_from_db()
