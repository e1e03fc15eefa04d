"""Who an ``Authorization`` header is, remembered for a few seconds (the API's fast path).

``user_for(header)`` is the one door: on a miss it asks the configured DRF authentication classes
(all but the session one) on a thread, exactly as a DRF view would, and keeps the user for
``KAIZEN_AUTH_CACHE_S`` seconds (0: no cache), keyed by a digest of the header (the key itself is
not kept). Whatever scheme the API authenticates with (DRF tokens today, personal access tokens
later) this module follows it: nothing here knows a token's table.

Revocation: deleting or saving a token, or saving or deleting a user, bumps an *auth epoch*
(in Redis, shared by every web process; a counter in the process without Redis). Every cached
entry remembers the epoch it was read under, and the fast path reads the current epoch in the
same Redis round trip as its throttle counters, so a revoked token stops working on the next
request in every process, not after the TTL. (The bump is sent at once and again after the
commit: a lookup racing the revoking transaction cannot keep the old answer.)
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, transaction

EPOCH_KEY = "kaizen-auth-epoch"
MAX_ENTRIES = 10_000

_entries: dict[bytes, tuple[float, bytes | None, Any]] = {}  # digest -> (expires, epoch, user)
_local_epoch = 0


def digest(header: str) -> bytes:
    return hashlib.blake2b(header.encode(), digest_size=20).digest()


def peek(key: bytes) -> tuple[Any, bytes | None] | None:
    """(user, the epoch it was read under) if remembered and not expired."""
    entry = _entries.get(key)
    if entry is None or entry[0] < time.monotonic():
        return None
    return entry[2], entry[1]


def forget(key: bytes) -> None:
    _entries.pop(key, None)


def local_epoch() -> bytes:
    return str(_local_epoch).encode()


async def current_epoch() -> bytes | None:
    if not settings.REDIS_URL:
        return local_epoch()
    from .throttles import _aclient

    return await _aclient().get(EPOCH_KEY)


async def user_for(header: str, key: bytes, epoch: bytes | None) -> Any | None:
    """The active user this header authenticates (None: no such credentials, or another scheme,
    e.g. a session: the caller lets DRF answer). ``epoch``: read before this lookup."""
    user = await sync_to_async(_authenticate, thread_sensitive=False)(header)
    ttl = settings.KAIZEN_AUTH_CACHE_S
    if user is not None and ttl > 0:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (time.monotonic() + ttl, epoch, user)
    return user


def _authenticate(header: str) -> Any | None:
    from django.http import HttpRequest
    from rest_framework.authentication import BaseAuthentication, SessionAuthentication
    from rest_framework.exceptions import APIException
    from rest_framework.request import Request
    from rest_framework.settings import api_settings

    bare = HttpRequest()  # (a request carrying the one header)
    bare.META["HTTP_AUTHORIZATION"] = header
    request = Request(bare)
    close_old_connections()
    try:
        classes = cast("list[type[BaseAuthentication]]", api_settings.DEFAULT_AUTHENTICATION_CLASSES)  # (imported by DRF)
        for auth_class in classes:
            if issubclass(auth_class, SessionAuthentication):
                continue
            try:
                found = auth_class().authenticate(request)
            except APIException:
                return None
            if found is not None:
                user = found[0]
                return user if user.is_active else None
        return None
    finally:
        close_old_connections()


def bump_epoch(update_fields: Any = None, **_kwargs: Any) -> None:
    """A signal receiver: credentials or a user changed; every process re-checks its cached callers."""
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # (a sign-in changes no one's rights)
    _bump()
    transaction.on_commit(_bump)


def _bump() -> None:
    global _local_epoch
    _local_epoch += 1
    _entries.clear()
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        try:
            client.incr(EPOCH_KEY)
        finally:
            client.close()


def connect_signals() -> None:
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete, post_save
    from rest_framework.authtoken.models import Token

    from apitokens.models import PersonalAccessToken

    for model in (Token, PersonalAccessToken, get_user_model()):
        post_save.connect(bump_epoch, sender=model, dispatch_uid=f"kaizen-auth-epoch-save-{model.__name__}")
        post_delete.connect(bump_epoch, sender=model, dispatch_uid=f"kaizen-auth-epoch-delete-{model.__name__}")
