"""POST /hooks/t/<public id>/ — a webhook trigger's inbound URL (no session, no CSRF: the
trigger's secret is the credential).

In order: the trigger must exist (404) and be enabled (410), the body must fit its size limit
(413), prove the secret (401: a header token, or an HMAC-SHA256 of the timestamp and the raw body,
within 5 minutes of the server's clock and never seen before: triggers/auth.py; constant-time
comparisons), the trigger's rate must allow the call (429, Retry-After), and the body must be
JSON that the trigger's mapping turns into the graph's inputs (400). The secret is checked before
the rate, so that callers without the secret cannot spend a trigger's budget and lock its sender
out; the check is cheap (a SHA-256, or a Fernet decrypt and an HMAC over a body already bounded
by the size limit). Then the graph's published version starts (409 if
there is none) by the API's own path: ``run_start``, enqueued on commit. In ``async`` mode the
answer is 202 with the run id; in ``wait`` mode the request waits up to the trigger's ``wait_s``
for the run's ``run_finished`` event (graphs/api/run_wait.py, no polling) and answers 200 with
its outputs, or 202 if it is still running. Every call, accepted or refused, is in the audit log
(refusals before the rate check as one row per trigger, status and window: triggers/refusals.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from graphs.api.parsers import MAX_DEPTH, has_nul, nesting_depth
from graphs.api.run_wait import FINAL, wait_for_run_end
from graphs.api.throttles import over_rate, retry_after
from graphs.models import Run
from graphs.services import ServiceError

from . import services
from .auth import first_use, forget_use, refusal
from .mapping import map_inputs
from .models import WebhookTrigger

log = logging.getLogger(__name__)


def _answer(status: int, body: dict[str, Any], **headers: str) -> JsonResponse:
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _call_facts(request: HttpRequest, size: int) -> dict[str, Any]:
    return {"remote_addr": request.META.get("REMOTE_ADDR", ""), "bytes": size,
            "user_agent": request.headers.get("User-Agent", "")[:200]}


@sync_to_async
def _trigger(public_id: str) -> WebhookTrigger | None:
    return WebhookTrigger.objects.select_related("graph", "created_by").filter(public_id=public_id).first()


@sync_to_async
def _refuse(trigger: WebhookTrigger, status: int, reason: str, call: dict[str, Any]) -> bool:
    return services.trigger_refused(trigger=trigger, status=status, reason=reason, call=call)


@sync_to_async
def _start(trigger: WebhookTrigger, inputs: dict[str, Any], call: dict[str, Any]) -> Run:
    return services.trigger_start_run(trigger=trigger, inputs=inputs, call=call)


@sync_to_async
def _read(run_id: int) -> dict[str, Any]:
    return dict(Run.objects.filter(pk=run_id).values("status", "outputs", "error").first() or {})


@sync_to_async
def _over_rate(trigger: WebhookTrigger) -> float | None:
    return over_rate(f"trigger:{trigger.pk}", trigger.rate_limit) if trigger.rate_limit else None


@csrf_exempt
async def trigger_call(request: HttpRequest, public_id: str) -> JsonResponse:
    if request.method != "POST":
        return _answer(405, {"detail": "POST a JSON body to this URL"}, Allow="POST")
    trigger = await _trigger(public_id) if len(public_id) <= 32 else None
    if trigger is None:
        return _answer(404, {"detail": "no such trigger"})
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    call = _call_facts(request, length)

    async def refuse(status: int, reason: str, detail: str = "", **headers: str) -> JsonResponse:
        opened = await _refuse(trigger, status, reason, call)
        response = _answer(status, {"detail": detail or reason}, **headers)
        if not opened:  # counted on an open window: no "django.request" warning line per call of a flood
            response._has_been_logged = True  # type: ignore[attr-defined]  # (django.utils.log.log_response)
        return response

    if not trigger.enabled:
        return await refuse(410, "disabled", "this trigger is disabled; enable it on the graph's page")
    too_big = f"body too large: the trigger's limit is {trigger.max_body_bytes} bytes"
    if length > trigger.max_body_bytes:
        return await refuse(413, too_big)
    body = request.body
    call["bytes"] = len(body)
    if len(body) > trigger.max_body_bytes:
        return await refuse(413, too_big)
    if reason := refusal(trigger, request.headers, body):
        return await refuse(401, reason)
    if not await first_use(trigger, request.headers):
        return await refuse(401, "replayed: this signature was accepted before; sign each call with a fresh "
                                 "X-Kaizen-Timestamp")
    if (wait := await _over_rate(trigger)) is not None:
        await forget_use(trigger, request.headers)  # (the same signed call may come again after Retry-After)
        seconds = retry_after(wait)
        return await refuse(429, f"over the trigger's rate limit ({trigger.rate_limit})",
                            f"over the trigger's rate limit ({trigger.rate_limit}); retry in {seconds} s",
                            Retry_After=str(seconds))
    doc, problem = _parse(body)
    if problem:
        return await refuse(400, problem)
    inputs, problems = map_inputs(doc, trigger.mapping)
    if problems:
        return await refuse(400, "; ".join(f"{p}: {m}" for p, m in problems.items()))
    try:
        run = await _start(trigger, inputs, call)
    except ServiceError as exc:
        errors = [{"path": i.path, "message": i.message} for i in exc.issues]
        await _refuse(trigger, exc.status, "; ".join(f"{e['path']}: {e['message']}" for e in errors) or str(exc), call)
        return _answer(exc.status, {"detail": str(exc), "errors": errors, **exc.extra})
    accepted = {"run_id": run.pk, "status": run.status, "url": f"/api/runs/{run.pk}/"}
    if trigger.mode != WebhookTrigger.Mode.WAIT:
        return _answer(202, accepted)
    return await _wait_for_outputs(run.pk, float(trigger.wait_s), accepted)


def _parse(body: bytes) -> tuple[Any, str]:
    if not body.strip():
        return {}, ""
    if has_nul(body):
        return None, "NUL characters (U+0000) are not allowed"
    if nesting_depth(body) > MAX_DEPTH:
        return None, f"JSON nested deeper than {MAX_DEPTH} levels"
    try:
        return json.loads(body), ""
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"the body is not JSON: {exc}"


async def _wait_for_outputs(run_id: int, wait_s: float, accepted: dict[str, Any]) -> JsonResponse:
    state = await wait_for_run_end(run_id, wait_s, lambda: _read(run_id))
    if state.get("status") not in FINAL:
        return _answer(202, {**accepted, "status": state.get("status", "queued"),
                             "detail": f"still running after {wait_s:g} s; GET the url for its result"})
    return _answer(200, {"run_id": run_id, "status": state["status"], "outputs": state.get("outputs"),
                         "error": state.get("error"), "url": accepted["url"]})
