"""Personal access tokens: named, revocable, optionally expiring API keys of one user.

Only a SHA-256 of the token is stored (tokens are 256 random bits, so a fast hash is enough: there
is nothing to guess), beside its first characters for people to recognise it. The token itself
is shown once, when it is made. A token acts as its user: in whatever workspaces the user
belongs to, with the user's roles there.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PersonalAccessToken(models.Model):
    is_personal_access_token = True  # (what throttles look for on request.auth)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="the token's first characters, for display")
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token, hex")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def active(self) -> bool:
        return self.revoked_at is None and not self.expired

    @property
    def state(self) -> str:
        return "revoked" if self.revoked_at else "expired" if self.expired else "active"
