"""Audit settings, each overridable in Django settings or the environment (same name)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Entries older than this many days are archived to JSONL and pruned by `manage.py audit_prune`.
    "KAIZEN_AUDIT_RETENTION_DAYS": 365,
    "KAIZEN_AUDIT_ARCHIVE_DIR": "",  # default: <KAIZEN_VAR_DIR>/audit-archive
    "KAIZEN_HOOK_MAX_ATTEMPTS": 5,
    "KAIZEN_HOOK_RETRY_BASE_S": 2.0,  # attempt n+1 waits base * 2**(n-1) seconds
    "KAIZEN_HOOK_RETRY_MAX_S": 300.0,
    "KAIZEN_HOOK_TIMEOUT_S": 10.0,
    "KAIZEN_WEBHOOK_ALLOW_PRIVATE": "",  # "1": hooks may target private/loopback addresses (see audit/urlguard.py)
    "KAIZEN_METRICS_TOKEN": "",  # when set, /metrics wants "Authorization: Bearer <token>" (or a staff session)
}


def get(name: str) -> Any:
    default = DEFAULTS[name]
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    if value is None:
        return default
    return type(default)(value)
