"""A trigger's secret: made here, shown once, then kept as a SHA-256 (header tokens) or encrypted
with the credentials' keys (HMAC keys, which the check needs in the clear). Every comparison is
constant-time (hmac.compare_digest)."""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random
from collections.abc import Mapping

from kaizen_web.crypto import decrypt_text, encrypt_text

from .models import WebhookTrigger

TOKEN_HEADERS = ("X-Kaizen-Token",)
SIGNATURE_HEADERS = ("X-Kaizen-Signature", "X-Hub-Signature-256")  # "sha256=<hex>" (GitHub's header too)


def new_secret() -> str:
    return "kzt_" + _random.token_urlsafe(32)


def store_secret(trigger: WebhookTrigger, secret: str) -> None:
    """Keep ``secret`` in the form the trigger's auth needs (not saved here)."""
    trigger.secret_hint = f"{secret[:4]}…{secret[-4:]}"
    if trigger.auth == WebhookTrigger.Auth.HMAC:
        trigger.encrypted_secret, trigger.token_sha256 = encrypt_text(secret), ""
    else:
        trigger.token_sha256, trigger.encrypted_secret = hashlib.sha256(secret.encode()).hexdigest(), ""


def refusal(trigger: WebhookTrigger, headers: Mapping[str, str], body: bytes) -> str | None:
    """Why the request does not prove it knows the trigger's secret, or None."""
    if trigger.auth == WebhookTrigger.Auth.HMAC:
        sent = next((headers[h] for h in SIGNATURE_HEADERS if headers.get(h)), "")
        if not sent:
            return f"no signature: send {SIGNATURE_HEADERS[0]}: sha256=<hex HMAC-SHA256 of the body with the secret>"
        key = decrypt_text(trigger.encrypted_secret) if trigger.encrypted_secret else None
        if key is None:
            return "the trigger's secret cannot be read (encryption key changed): regenerate it"
        expected = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(sent.strip().lower().encode(), expected.encode()) else "wrong signature"
    sent = next((headers[h] for h in TOKEN_HEADERS if headers.get(h)), "")
    auth = headers.get("Authorization", "")
    if not sent and auth[:7].lower() == "bearer ":
        sent = auth[7:]
    if not sent:
        return f"no token: send Authorization: Bearer <token> or {TOKEN_HEADERS[0]}: <token>"
    digest = hashlib.sha256(sent.strip().encode()).hexdigest()
    return None if hmac.compare_digest(digest.encode(), trigger.token_sha256.encode()) else "wrong token"
