"""Validation of a trigger's and a schedule's fields, shared by the API and the graph page."""

from __future__ import annotations

from typing import Any

from graphs.api.throttles import parse_rate

from .mapping import mapping_problems
from .models import Schedule, WebhookTrigger

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_WAIT_S = 60


def trigger_problems(fields: dict[str, Any]) -> dict[str, str]:
    problems: dict[str, str] = {}
    if "auth" in fields and fields["auth"] not in WebhookTrigger.Auth.values:
        problems["auth"] = "token or hmac"
    if "mode" in fields and fields["mode"] not in WebhookTrigger.Mode.values:
        problems["mode"] = "async or wait"
    if "mapping" in fields:
        problems.update(mapping_problems(fields["mapping"]))
    if "wait_s" in fields and not (isinstance(fields["wait_s"], int) and 1 <= fields["wait_s"] <= MAX_WAIT_S):
        problems["wait_s"] = f"whole seconds from 1 to {MAX_WAIT_S}"
    if "max_body_bytes" in fields and not (isinstance(fields["max_body_bytes"], int) and 1 <= fields["max_body_bytes"] <= MAX_BODY_BYTES):
        problems["max_body_bytes"] = f"bytes from 1 to {MAX_BODY_BYTES}"
    if fields.get("rate_limit"):
        try:
            limit, _ = parse_rate(fields["rate_limit"])
            if limit < 1:
                raise ValueError
        except (ValueError, KeyError, IndexError):
            problems["rate_limit"] = "N/s, N/min, N/hour or N/day (empty: no limit)"
    if "name" in fields and len(fields["name"] or "") > 100:
        problems["name"] = "at most 100 characters"
    if "enabled" in fields and not isinstance(fields["enabled"], bool):
        problems["enabled"] = "true or false"
    return problems


SCHEDULE_KINDS = Schedule.Kind.values
