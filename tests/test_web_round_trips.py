"""The Redis commands the web process sends for one start that waits (issue 13: counted, never timed).

``POST /api/graphs/{id}/runs/?wait=`` on the ASGI fast path: the throttles and the auth epoch in
one EVALSHA; the task's message in one LPUSH, through the broker channel's one client (no
``redis.Redis`` built per message: kaizen_web/redis_broker.py); the run's group subscribed once
and unsubscribed once, with no channel of the request's own (graphs/api/run_wait.py ``_Sink``).
Commands are recorded where redis-py packs them (the asyncio client's and the sync client's).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import traceback
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio.connection
import redis.connection
from asgiref.sync import sync_to_async

from apitokens.services import token_create
from graphs import services
from graphs.models import Run
from graphs.runner.execution import execute_run
from tests.test_fast_api import call
from tests.test_run_path_queries import join_chain

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (the distributed setup)")]


@contextlib.contextmanager
def redis_commands() -> Iterator[tuple[list[tuple[str, ...]], list[tuple[str, ...]], list[int]]]:
    """(commands of asyncio clients, commands of sync clients, [redis.Redis clients built by kombu])."""
    sent_async: list[tuple[str, ...]] = []
    sent_sync: list[tuple[str, ...]] = []
    built = [0]

    def words(args) -> tuple[str, ...]:
        return tuple(a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in args)

    def recording(cls, into, single: str):  # (single: where one command's arguments pass: not the same in both clients)
        pack_command, pack_commands = getattr(cls, single), cls.pack_commands

        def one(self, *args, **kwargs):
            into.append(words(args))
            return pack_command(self, *args, **kwargs)

        def many(self, commands):
            into.extend(words(c) for c in commands)
            return pack_commands(self, commands)

        return (cls, single, one), (cls, "pack_commands", many)

    init = redis.Redis.__init__

    def counting_init(self, *args, **kwargs):
        if any("/kombu/" in frame.filename for frame in traceback.extract_stack()):  # (by the broker's transport)
            built[0] += 1
        init(self, *args, **kwargs)

    patches = [*recording(redis.asyncio.connection.AbstractConnection, sent_async, "pack_command"),
               *recording(redis.connection.AbstractConnection, sent_sync, "send_command"), (redis.Redis, "__init__", counting_init)]
    originals = [(cls, name, cls.__dict__[name]) for cls, name, _ in patches]
    for cls, name, fn in patches:
        setattr(cls, name, fn)
    try:
        yield sent_async, sent_sync, built
    finally:
        for cls, name, fn in originals:
            setattr(cls, name, fn)


def named(commands: list[tuple[str, ...]], name: str) -> list[tuple[str, ...]]:
    return [c for c in commands if c and c[0].upper() == name]


async def test_a_start_that_waits_costs_the_web_few_redis_commands(user):
    from graphs.api.fast import FastRoutes
    from kaizen_web.asgi import django_asgi_app

    fast = FastRoutes(django_asgi_app)
    token = await sync_to_async(lambda: token_create(user=user, name="t")[1])()
    graph = await sync_to_async(lambda: services.graph_create(owner=user, name="g", spec=join_chain(2)).graph)()
    path = f"/api/graphs/{graph.pk}/runs/"
    status, body, _ = await call(fast, "POST", path, {"inputs": {"task": "t"}}, token=token)  # (token remembered, script loaded)
    assert status == 202, body

    with redis_commands() as (sent_async, sent_sync, built):
        answer = asyncio.ensure_future(call(fast, "POST", f"{path}?wait=30", {"inputs": {"task": "t"}}, token=token))
        group = []
        while not group:  # (the request has started its run and joined the run's group: run it now)
            await asyncio.sleep(0.01)
            group = [c for c in named(sent_async, "SUBSCRIBE") if "__group__run." in " ".join(c)]
        run = await Run.objects.filter(graph=graph).alatest("pk")
        assert group[0][-1].endswith(f"__group__run.{run.pk}.end"), group  # (its end only, not every event)
        assert await sync_to_async(execute_run, thread_sensitive=False)(run.pk) == "succeeded"
        status, body, _ = await answer
    assert status == 201 and body["id"] == run.pk and body["status"] == "succeeded", body

    web = [c for c in sent_async if c[0].upper() not in ("PUBLISH",)]  # (the run's events, published by execute_run here)
    assert len(named(web, "EVALSHA")) == 1 and not named(web, "INCR") and not named(web, "GET"), web  # throttles + auth epoch
    ours = [c for c in web if "__group__run." in " ".join(c) or "specific." in " ".join(c)]
    assert [c[0].upper() for c in ours] == ["SUBSCRIBE", "UNSUBSCRIBE"], ours  # the group only, no channel of its own
    assert len(named(sent_sync, "LPUSH")) == 1, (sent_sync, sent_async)  # the task's message
    assert built[0] == 0, "kombu built a redis.Redis client for the message"


def test_daphne_requests_skip_twisteds_form_parsing():
    """kaizen_serve's Daphne does not parse a POST's Content-Type for form fields it never reads."""
    from unittest import mock

    from daphne import http_protocol

    from graphs.management.commands.kaizen_serve import skip_form_parsing

    skip_form_parsing()
    patched = http_protocol.WebRequest
    skip_form_parsing()
    assert http_protocol.WebRequest is patched  # (once)
    request = http_protocol.WebRequest(mock.MagicMock())
    assert request._parsePOSTFormSubmission is False


def test_the_fast_paths_security_headers_are_built_once_per_host(settings):
    """The fast path's responses carry the headers Django's middleware adds (CSP naming the
    request's own websocket origin, X-Frame-Options...), built by the middleware once per host and
    scheme, not per response."""
    from django.test import RequestFactory

    from graphs.api import fast

    routes = fast.FastRoutes(None)
    built = []
    header_middleware = routes.header_middleware

    def counting():
        built.append(1)
        return header_middleware()

    routes.header_middleware = counting
    settings.ALLOWED_HOSTS = ["a.example", "b.example"]  # (a setting changed: nothing kept from before)
    for host in ("a.example", "b.example", "a.example", "b.example"):
        response = routes.respond(RequestFactory().get("/api/runs/1/", HTTP_HOST=host), 200, {"id": 1}, "GET")
        assert f"ws://{host}" in response["Content-Security-Policy"] and response["X-Frame-Options"] == "DENY", response.headers
        assert response["Allow"] == "GET" and response["X-Content-Type-Options"] == "nosniff"
    assert len(built) == 2
