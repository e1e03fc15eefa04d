"""Secrets at rest: Fernet with rotation, shared by graphs (stored API keys) and audit (hook
secrets). Imports no app of this project, so both may import it."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["InvalidToken", "decrypt_text", "encrypt_text", "fernet", "rotate_token"]


def _derived(secret_key: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(f"kaizen-credentials:{secret_key}".encode()).digest())


def fernet() -> MultiFernet:
    """Encrypts with the first key, decrypts with any: rotation without losing what is stored.

    KAIZEN_ENCRYPTION_KEY is a comma-separated list of Fernet keys, newest first. Unset, the key is
    derived from SECRET_KEY, and from each of SECRET_KEY_FALLBACKS for reading (Django's own way to
    rotate SECRET_KEY). ``manage.py kaizen_rotate_keys`` re-encrypts everything with the first key.
    """
    keys = [k.strip().encode() for k in settings.KAIZEN_ENCRYPTION_KEY.split(",") if k.strip()]
    if not keys:
        keys = [_derived(k) for k in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]]
    return MultiFernet([Fernet(k) for k in keys])


def rotate_token(token: bytes) -> bytes:
    """The same secret, encrypted with the current first key (InvalidToken if no key reads it)."""
    return fernet().rotate(token)


def encrypt_text(text: str) -> str:
    return fernet().encrypt(text.encode()).decode()


def decrypt_text(token: str) -> str | None:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None
