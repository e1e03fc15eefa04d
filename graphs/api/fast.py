"""The API's two hot routes, served at the ASGI level: ``POST /api/graphs/{id}/runs/`` (start a
run; ``?wait=`` to answer once it has ended) and ``GET /api/runs/{id}/`` (read it, ``?wait=`` to
long-poll its end).

Under load the web process spent most of its time in Django's request cycle and DRF around these
two calls (middleware, content negotiation, the hop of each request to a sync thread and back,
a ModelSerializer built per request, a token lookup per request). Here, for a caller who sends an
``Authorization`` header, the same rules run in the event loop: authentication (the configured
DRF classes, remembered briefly: graphs/api/auth_cache.py), the permission (signed in, and 404 for
another user's graph or run), the throttles (one Redis round trip, which also reads the auth epoch),
then one thread hop for the database work (the same service, ``services.run_start``; the same
queries as the DRF views), and the same security headers (Django's own middleware classes).

Everything else goes to Django unchanged, so that its answer is the reference: no or another kind
of credentials, a session cookie (DRF's session authentication comes first, CSRF with it), a header DRF refuses, a disallowed host, plain http where
https is required, a body that is not a plain JSON object of the usual fields (every validation
error is DRF's own), a body over the upload limit, NUL characters. Such requests are handed over
before anything was counted, so no throttle counts twice. tests/test_fast_api.py sends the same
requests both ways and compares status codes, bodies and headers.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost, PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.core.signals import setting_changed
from django.db import close_old_connections
from django.dispatch import receiver
from django.http import Http404, HttpResponse

from ..services import ServiceError
from . import auth_cache
from .parsers import bounded_loads, has_nul
from .run_wait import FINAL, bad_wait_body, long_poll, parse_wait, started

START = re.compile(r"^/api/graphs/([0-9]{1,18})/runs/$")
READ = re.compile(r"^/api/runs/([0-9]{1,18})/$")
MAX_INT = 2**31 - 1
ALLOW = {"start": "GET, POST, HEAD, OPTIONS", "read": "GET, HEAD, OPTIONS"}  # (the DRF views' Allow header)
RUN_FIELDS = {"inputs", "version", "dry_run"}  # (budget_usd: a decimal, left to DRF's field)


_security_headers: dict[tuple[Any, ...], tuple[tuple[str, str], ...]] = {}


@receiver(setting_changed)
def _settings_changed(**kwargs) -> None:
    _security_headers.clear()


class Delegate(Exception):
    """Let Django and DRF answer this request (nothing was counted or written yet)."""


class FastRoutes:
    """ASGI middleware in front of Django's handler (kaizen_web/asgi.py)."""

    def __init__(self, django_app) -> None:
        self.django = django_app
        self._headers: list[Any] | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or (route := _route(scope)) is None or _header(scope, b"authorization") is None:
            return await self.django(scope, receive, send)
        body = b""
        if scope["method"] == "POST":
            length = _header(scope, b"content-length")
            if length is None or not length.isdigit() or int(length) > (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0):
                return await self.django(scope, receive, send)
            read = await _read_body(receive)
            if read is None:
                return  # (the client went away)
            body = read
        try:
            response = await self.answer(route, scope, body)
        except Delegate:
            return await self.django(scope, _replay(body, receive) if scope["method"] == "POST" else receive, send)
        await self.django.send_response(response, send)

    async def answer(self, route: tuple[str, int], scope, body: bytes) -> HttpResponse:
        kind, pk = route
        request = ASGIRequest(scope, io.BytesIO(body))
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            raise Delegate  # (a browser's request: DRF's, with its session and CSRF rules)
        try:
            request.get_host()
        except DisallowedHost:
            raise Delegate from None
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            raise Delegate
        if "\x00" in request.META.get("QUERY_STRING", "") or "%00" in request.META.get("QUERY_STRING", ""):
            raise Delegate
        raw = request.GET.get("wait")
        wait = None if raw is None else parse_wait(raw)
        if raw is not None and wait is None:  # (before authentication and anything created, as graphs/api/run_wait.py)
            return self.respond(request, 400, bad_wait_body(), None, drf=False)
        data = _run_request(request, body) if kind == "start" else None
        user = await self.caller(request, ("user", "runs") if kind == "start" else ("user",), ALLOW[kind])
        if isinstance(user, HttpResponse):
            return user
        if kind == "read":
            status, payload = await _wait_for_run(pk, user, wait or 0.0)
            return self.respond(request, status, payload, ALLOW[kind])
        assert data is not None
        status, payload = await sync_to_async(_start_run, thread_sensitive=False)(pk, user, data)
        if status != 202 or not wait:
            return self.respond(request, status, payload, ALLOW[kind])
        run_id = payload["id"]  # a start that waits (graphs/api/run_wait.py)
        code, payload = await _wait_for_run(run_id, user, wait, just_started=True)
        response = self.respond(request, code, payload, ALLOW[kind])
        started(response, code, run_id)
        return response

    async def caller(self, request, scopes: tuple[str, ...], allow: str):
        """The signed-in user, or a 429 response; Delegate when DRF should answer."""
        from .throttles import athrottle

        header = request.META["HTTP_AUTHORIZATION"]
        key = auth_cache.digest(header)
        known = auth_cache.peek(key)
        if known is None:
            epoch = await auth_cache.current_epoch()
            user = await auth_cache.user_for(header, key, epoch)
            if user is None:
                raise Delegate
        else:
            user, epoch = known
        wait, now_epoch = await athrottle(scopes, str(user.pk), auth_cache.EPOCH_KEY if settings.REDIS_URL else None)
        if not settings.REDIS_URL:
            now_epoch = auth_cache.local_epoch()
        if now_epoch != epoch:  # credentials or users changed since this caller was remembered
            auth_cache.forget(key)
            if await auth_cache.user_for(header, key, now_epoch) is None:
                raise Delegate
        if wait is not None:
            from rest_framework.exceptions import Throttled

            from .errors import exception_handler

            exc = Throttled(wait)
            drf = exception_handler(exc, {})
            assert drf is not None  # (DRF answers every APIException)
            response = self.respond(request, drf.status_code, drf.data, allow)
            response["Retry-After"] = drf["Retry-After"]
            return response
        return user

    def respond(self, request, status: int, payload: Any, allow: str | None, drf: bool = True) -> HttpResponse:
        """JSON as DRF's renderer writes it, with the headers Django's middleware adds (``drf``:
        and those DRF adds; not for a plain JsonResponse of run_wait's)."""
        content = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        response = HttpResponse(content, status=status, content_type="application/json")
        if drf:
            response["Vary"] = "Accept"  # (DRF's renderer; the token authenticates first, the session is never read)
        if allow:
            response["Allow"] = allow
        for name, value in self.security_headers(request, status):
            response[name] = value
        return response

    def security_headers(self, request, status: int) -> tuple[tuple[str, str], ...]:
        """The headers Django's middleware (``header_middleware``) adds to such a response: they
        depend on the request's host and scheme, the status and the settings only, so they are
        computed once per host, scheme and status (a bounded number; the settings' changes clear
        them) instead of the middleware building its policy strings per response."""
        meta = request.META
        key = (meta.get("HTTP_X_FORWARDED_HOST"), meta.get("HTTP_HOST"), meta.get("SERVER_NAME"), meta.get("SERVER_PORT"),
               request.is_secure(), status)
        found = _security_headers.get(key)
        if found is None:
            probe: HttpResponse = HttpResponse(status=status, content_type="application/json")
            before = set(probe.headers)
            for middleware in self.header_middleware():
                probe = middleware.process_response(request, probe)
            found = tuple((name, value) for name, value in probe.headers.items() if name not in before)
            if len(_security_headers) < 64:
                _security_headers[key] = found
        return found

    def header_middleware(self):
        if self._headers is None:
            from django.middleware.clickjacking import XFrameOptionsMiddleware
            from django.middleware.security import SecurityMiddleware

            from kaizen_web.csp import OwnOriginCSPMiddleware

            # (in MIDDLEWARE's order, reversed as responses pass them)
            self._headers = [m(lambda r: None) for m in (XFrameOptionsMiddleware, OwnOriginCSPMiddleware, SecurityMiddleware)]
        return self._headers


def _route(scope) -> tuple[str, int] | None:
    method, path = scope["method"], scope["path"]
    if method == "POST" and (m := START.match(path)):
        return "start", int(m.group(1))
    if method == "GET" and (m := READ.match(path)):
        return "read", int(m.group(1))
    return None


def _header(scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _read_body(receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _run_request(request, body: bytes) -> dict[str, Any]:
    """The fields of a plain start request (what RunCreateSerializer would accept unchanged);
    anything else is DRF's to judge."""
    if not request.META.get("CONTENT_TYPE", "").startswith("application/json") or not body or has_nul(body):
        raise Delegate
    try:
        data = bounded_loads(body)
    except ValueError:
        raise Delegate from None
    if not isinstance(data, dict) or not set(data) <= RUN_FIELDS:
        raise Delegate
    inputs, version, dry_run = data.get("inputs", {}), data.get("version"), data.get("dry_run", False)
    if not isinstance(inputs, dict) or not isinstance(dry_run, bool):
        raise Delegate
    if "version" in data and (type(version) is not int or not 1 <= version <= MAX_INT):
        raise Delegate
    return {"inputs": inputs, "dry_run": dry_run, **({"version": version} if "version" in data else {})}


def _not_found(model: str) -> dict[str, Any]:
    return {"detail": f"No {model} matches the given query.", "errors": []}


def _read_run(pk: int, user, live_in_full: bool = True) -> tuple[int, Any, None]:
    """The run's body, as the DRF view's; ``live_in_full=False``: only the status of a run that
    is still live (a waiting request reads it in full at its end: its node states are not read
    twice)."""
    from ..selectors import run_seen_by
    from .serializers import node_summaries, run_body

    close_old_connections()
    try:
        try:
            run = run_seen_by(user, pk)  # (the DRF views' query and access rule)
        except Http404:
            return 404, _not_found("Run"), None
        if not live_in_full and run.status not in FINAL:
            return 200, {"status": run.status}, None
        return 200, run_body(run, node_summaries(run)), None
    finally:
        close_old_connections()  # (back to the pool)


async def _wait_for_run(pk: int, user, wait: float, just_started: bool = False) -> tuple[int, Any]:
    """The run's body once it has ended or ``wait`` seconds passed (``wait=0``: at once).
    ``just_started``: by this request, so the caller may see it; the first look reads its status only
    (no access rule), and the run in full only if it has ended already."""
    async def read() -> tuple[int, Any, Any]:
        return await sync_to_async(_read_run, thread_sensitive=False)(pk, user)

    async def peek() -> tuple[int, Any, Any]:
        if just_started and await sync_to_async(_is_live, thread_sensitive=False)(pk):
            return 200, {"status": "queued"}, None  # (live: read in full at its end)
        return await sync_to_async(_read_run, thread_sensitive=False)(pk, user, False)

    status, payload, _ = await long_poll(pk, wait, read, look_first=False, peek=peek)
    return status, payload


def _is_live(pk: int) -> bool:
    from ..selectors import run_status

    close_old_connections()
    try:
        status = run_status(pk)
        return status is not None and status not in FINAL
    finally:
        close_old_connections()


def _start_run(pk: int, user, data: dict[str, Any]) -> tuple[int, Any]:
    from .. import selectors, services
    from .errors import service_error_body

    close_old_connections()
    try:
        try:
            graph, latest = selectors.graph_to_run(user, pk)  # (as the DRF view's graph_for: runners and up)
        except Http404:
            return 404, _not_found("Graph")
        except PermissionDenied as exc:  # a member whose role may not start runs (DRF's 403 body)
            return 403, {"detail": str(exc), "errors": []}
        try:
            run = services.run_start(graph=graph, user=user, latest=latest, **data)
        except ServiceError as exc:
            return exc.status, service_error_body(exc)
        return 202, {"id": run.pk, "status": run.status, "url": f"/runs/{run.pk}/"}
    finally:
        close_old_connections()
