"""Webhook delivery: POST the JSON payload, signed with the hook's secret; retry with backoff.

Every attempt is stored (HookDelivery) so the graph page and the API can show what happened.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx
from celery import shared_task

from . import conf, logs, metrics
from .models import GraphHook, HookDelivery
from .urlguard import UnsafeURL, pinned

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Kaizen-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff_s(attempt: int) -> float:
    """Delay before attempt ``attempt + 1``: base, 2x base, 4x base ... capped."""
    return min(conf.get("KAIZEN_HOOK_RETRY_BASE_S") * 2 ** (attempt - 1), conf.get("KAIZEN_HOOK_RETRY_MAX_S"))


def deliver_once(hook: GraphHook, payload: dict[str, Any], delivery_id: str, attempt: int) -> HookDelivery:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "kaizen-web-hooks/1",
               SIGNATURE_HEADER: sign(hook.signing_secret, body), "X-Kaizen-Event": str(payload.get("event", "")),
               "X-Kaizen-Delivery": delivery_id, "X-Kaizen-Attempt": str(attempt)}
    started = time.perf_counter()
    status_code, error = None, ""
    try:  # checked again (DNS answers change), and the connection goes to the address checked
        url, host_headers, extensions = pinned(hook.url)
    except UnsafeURL as exc:
        return _record(hook, payload, delivery_id, attempt, None, f"refused: {exc}"[:300], started, final=True)
    try:
        with httpx.Client(timeout=conf.get("KAIZEN_HOOK_TIMEOUT_S"), follow_redirects=False) as client:
            status_code = client.post(url, content=body, headers={**headers, **host_headers},
                                      extensions=extensions).status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    return _record(hook, payload, delivery_id, attempt, status_code, error, started)


def _record(hook: GraphHook, payload: dict[str, Any], delivery_id: str, attempt: int, status_code: int | None,
            error: str, started: float, final: bool = False) -> HookDelivery:
    ok = not error
    retry = None if ok or final or attempt >= conf.get("KAIZEN_HOOK_MAX_ATTEMPTS") else backoff_s(attempt)
    metrics.HOOK_DELIVERIES.labels("ok" if ok else ("retry" if retry is not None else "gave_up")).inc()
    return HookDelivery.objects.create(
        hook=hook, delivery_id=delivery_id, event=str(payload.get("event", ""))[:40], run_id=payload.get("run_id"),
        attempt=attempt, status_code=status_code, ok=ok, error=error,
        duration_ms=round((time.perf_counter() - started) * 1000, 2), next_retry_s=retry,
    )


@shared_task(ignore_result=True, name="audit.deliver_webhook")
def deliver_webhook(hook_id: int, payload: dict[str, Any], delivery_id: str, attempt: int = 1) -> None:
    """One attempt; on failure the next one is scheduled (countdown), up to KAIZEN_HOOK_MAX_ATTEMPTS."""
    hook = GraphHook.objects.filter(pk=hook_id, enabled=True).first()
    if hook is None or not hook.url:
        return  # deleted or disabled since the event: nothing to do
    token = logs.bind(run_id=payload.get("run_id"), node_id=payload.get("node_id"))
    try:
        delivery = deliver_once(hook, payload, delivery_id, attempt)
        if delivery.next_retry_s is not None:
            log.warning("webhook %s attempt %s failed (%s); retrying in %.1fs", hook_id, attempt, delivery.error,
                        delivery.next_retry_s)
            deliver_webhook.apply_async(args=[hook_id, payload, delivery_id, attempt + 1], countdown=delivery.next_retry_s)
        elif not delivery.ok:
            log.error("webhook %s gave up after %s attempts (%s)", hook_id, attempt, delivery.error)
    finally:
        logs.reset(token)
