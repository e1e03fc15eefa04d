"""A trigger's secret: made here, shown once, then kept as a SHA-256 (header tokens) or encrypted
with the credentials' keys (HMAC keys, which the check needs in the clear). Every comparison is
constant-time (hmac.compare_digest).

HMAC calls are signed with the time they are sent, so a captured call cannot be replayed:

    X-Kaizen-Timestamp: <unix seconds>
    X-Kaizen-Signature: sha256=<hex HMAC-SHA256, keyed with the secret, of "<timestamp>.<raw body>">

A timestamp more than ``KAIZEN_TRIGGER_SIGNATURE_TOLERANCE_S`` (300 s) away from the server's clock
is refused, and so is a signature already accepted (``first_use``: the cache remembers it for
twice the tolerance, the longest a signature can stay within the window).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random
import time
from collections.abc import Mapping

from django.conf import settings
from django.core.cache import cache

from kaizen_web.crypto import decrypt_text, encrypt_text

from .models import WebhookTrigger

TOKEN_HEADERS = ("X-Kaizen-Token",)
SIGNATURE_HEADER = "X-Kaizen-Signature"  # "sha256=<hex>"
TIMESTAMP_HEADER = "X-Kaizen-Timestamp"  # whole seconds since 1970 (UTC), signed with the body
HOW_TO_SIGN = (f"send {TIMESTAMP_HEADER}: <unix seconds> and {SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 "
               "of '<timestamp>.<raw body>' with the secret>")


def tolerance_s() -> int:
    return int(getattr(settings, "KAIZEN_TRIGGER_SIGNATURE_TOLERANCE_S", 300))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What a caller sends as X-Kaizen-Signature (and what the page's example computes)."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def new_secret() -> str:
    return "kzt_" + _random.token_urlsafe(32)


def store_secret(trigger: WebhookTrigger, secret: str) -> None:
    """Keep ``secret`` in the form the trigger's auth needs (not saved here)."""
    trigger.secret_hint = f"{secret[:4]}…{secret[-4:]}"
    if trigger.auth == WebhookTrigger.Auth.HMAC:
        trigger.encrypted_secret, trigger.token_sha256 = encrypt_text(secret), ""
    else:
        trigger.token_sha256, trigger.encrypted_secret = hashlib.sha256(secret.encode()).hexdigest(), ""


def refusal(trigger: WebhookTrigger, headers: Mapping[str, str], body: bytes, now: float | None = None) -> str | None:
    """Why the request does not prove it knows the trigger's secret (now), or None."""
    if trigger.auth == WebhookTrigger.Auth.HMAC:
        return _hmac_refusal(trigger, headers, body, time.time() if now is None else now)
    sent = next((headers[h] for h in TOKEN_HEADERS if headers.get(h)), "")
    auth = headers.get("Authorization", "")
    if not sent and auth[:7].lower() == "bearer ":
        sent = auth[7:]
    if not sent:
        return f"no token: send Authorization: Bearer <token> or {TOKEN_HEADERS[0]}: <token>"
    digest = hashlib.sha256(sent.strip().encode()).hexdigest()
    return None if hmac.compare_digest(digest.encode(), trigger.token_sha256.encode()) else "wrong token"


def _hmac_refusal(trigger: WebhookTrigger, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
    sent = headers.get(SIGNATURE_HEADER, "").strip().lower()
    stamp = headers.get(TIMESTAMP_HEADER, "").strip()
    if not sent or not stamp:
        return f"no {'signature' if not sent else 'timestamp'}: {HOW_TO_SIGN}"
    if not stamp.isdigit() or len(stamp) > 12:
        return f"{TIMESTAMP_HEADER} must be whole seconds since 1970 (UTC), e.g. {int(now)}"
    if abs(now - int(stamp)) > tolerance_s():
        return (f"{TIMESTAMP_HEADER} is {abs(now - int(stamp)):.0f} s away from the server's clock (at most "
                f"{tolerance_s()} s): sign each call when you send it")
    key = decrypt_text(trigger.encrypted_secret) if trigger.encrypted_secret else None
    if key is None:
        return "the trigger's secret cannot be read (encryption key changed): regenerate it"
    return None if hmac.compare_digest(sent.encode(), signature(key, stamp, body).encode()) else "wrong signature"


def _seen_key(trigger: WebhookTrigger, headers: Mapping[str, str]) -> str | None:
    if trigger.auth != WebhookTrigger.Auth.HMAC:
        return None  # a token call carries nothing that differs between calls
    digest = hashlib.sha256(headers.get(SIGNATURE_HEADER, "").strip().lower().encode()).hexdigest()
    return f"trigger-signature:{trigger.pk}:{digest}"


async def first_use(trigger: WebhookTrigger, headers: Mapping[str, str]) -> bool:
    """A verified HMAC call's signature was not accepted before (within the window): the cache's
    atomic add remembers it, in every web process (Redis). Token calls: always True."""
    key = _seen_key(trigger, headers)
    return key is None or bool(await cache.aadd(key, 1, timeout=2 * tolerance_s() + 1))


async def forget_use(trigger: WebhookTrigger, headers: Mapping[str, str]) -> None:
    """The call was not taken after all (over the rate): its sender may send it again."""
    if key := _seen_key(trigger, headers):
        await cache.adelete(key)
