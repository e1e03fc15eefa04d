"""``Authorization: Bearer <token>`` (or ``Token <token>``) with a personal access token.

A token that is unknown, revoked or expired, or whose user is inactive, answers 401. When the
token was last used is written at most once a minute per token (one conditional UPDATE), so a
busy client costs no write per request.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .models import PersonalAccessToken, token_hash

KEYWORDS = (b"bearer", b"token")  # (Token: what DRF's token auth took; those keys were migrated here)
LAST_USED_EVERY = timedelta(minutes=1)


class PersonalAccessTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None  # not ours: the session (or nobody)
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization header: give one token after Bearer")
        try:
            key = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("invalid token") from None
        token = (PersonalAccessToken.objects.select_related("user")
                 .filter(key_hash=token_hash(key)).first())
        if token is None or token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("invalid or revoked token")
        now = timezone.now()
        if token.expires_at is not None and token.expires_at <= now:
            raise exceptions.AuthenticationFailed("token expired")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("user inactive")
        if token.last_used_at is None or token.last_used_at < now - LAST_USED_EVERY:
            PersonalAccessToken.objects.filter(pk=token.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)).update(last_used_at=now)
            token.last_used_at = now
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
