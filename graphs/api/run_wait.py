"""GET /api/runs/{id}/?wait=SECONDS — answer as soon as the run has ended (a long poll); and
POST /api/graphs/{id}/runs/?wait=SECONDS — start a run and answer likewise, in one request.

Without ``wait`` the request is the plain DRF view. With it, the view (authentication, access,
serialization: all DRF's) is read once; if the run is still queued or running, this request
joins the run's end group (``run_end_group``: the worker publishes a run's ``run_finished`` or
``run_waiting`` there as well as to the group of all its events, so a waiting web process reads
one message per run, not every event batch and token), reads again (an end committed in between
is not missed), and then sleeps until the end arrives or ``wait`` seconds pass, whichever is
first, and answers with a last read. No database polling: a waiting client
costs one group subscription in Daphne's event loop and holds no database connection while it
sleeps, whichever channel layer is configured (channels_redis pub/sub in the distributed setup,
the in-memory layer in the embedded one).

A start that waits answers ``201 Created`` with a ``Location`` (the run's URL) and the body
``GET /api/runs/{id}/?wait=`` would give at that moment: the run once ended, or as it is when
``wait`` seconds have passed (then its ``status`` is still ``queued`` or ``running``, as a GET's
whose time ran out; 201 whatever the outcome, as a GET's 200). The start is the plain one
(permission, throttles, validation: the same answers); the wait that follows is ``long_poll``
subscribed before its first read, so a run that ended before the subscription is read ended.
Without ``wait`` (or ``wait=0``) the start answers 202 as always.

Events are published after their commit, and the worker commits the run row's final fields with
its last events (graphs/runner/adapters.py ``finish``), so a read after ``run_finished`` finds the
row ended. Should a read still find it live (a writer that commits them apart), it takes the final
fields (status, outputs, error, cost, tokens) from the event itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from ..events import END_EVENTS, run_end_group

log = logging.getLogger(__name__)

MAX_WAIT_S = 60.0
STARTED = 201  # (a start that waited: the run was created; its body's status says whether it ended)
# (and "waiting": the run is parked on a human node; the caller learns it now, not in days)
FINAL = frozenset({"succeeded", "failed", "interrupted", "cancelled", "waiting"})


def parse_wait(raw: str) -> float | None:
    """Seconds to wait (0..MAX_WAIT_S), or None if ``raw`` is not such a number."""
    try:
        wait = float(raw)
    except ValueError:
        return None
    return wait if math.isfinite(wait) and 0 <= wait <= MAX_WAIT_S else None


def bad_wait_body() -> dict[str, Any]:
    message = f"must be a number of seconds from 0 to {MAX_WAIT_S:g}"
    return {"detail": f"wait {message}", "errors": [{"path": "wait", "message": message}]}


async def long_poll(pk: int, wait: float, read: Callable[[], Awaitable[tuple[int, Any, Any]]],
                    release: Callable[[], Awaitable[None]] | None = None, *, look_first: bool = True,
                    peek: Callable[[], Awaitable[tuple[int, Any, Any]]] | None = None) -> tuple[int, Any, Any]:
    """Read the run (``read()`` -> (status code, body dict, anything)); while it is live, wait up
    to ``wait`` seconds for its end as above, then read again. Returns the last read, its body
    completed from the run_finished event if the row was still behind it. ``release`` gives back
    the database connection before the sleep. ``look_first=False`` subscribes before the first
    read (one read fewer for a run that is still live, as a run just started is). ``peek``: a
    cheaper first look once subscribed, answering as ``read`` does except for a live run, of
    which it may give the status only: that run is read in full at its end."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    if look_first or wait == 0:
        answer = await read()
        if not _live(answer) or wait == 0:
            return answer
    finished: asyncio.Future[dict[str, Any]] = loop.create_future()
    subscription = await _subscribe(pk, finished)
    try:
        answer = await (peek or read)()  # subscribed: nothing can slip by now
        if not _live(answer):
            return answer
        if release is not None:
            await release()  # (no database connection is held while the request sleeps)
        await asyncio.wait(subscription.waiting, timeout=max(0.0, deadline - loop.time()), return_when=asyncio.FIRST_COMPLETED)
    finally:
        await subscription.close()
    answer = await read()
    if finished.done() and _live(answer):
        _take_final_fields(answer[1], finished.result())
    return answer


def waitable(view):
    """Wrap a DRF run-detail view (``as_view()``) so that it honours ``?wait=``."""
    sync_view = sync_to_async(view)

    async def run_detail(request: HttpRequest, pk: int, **kwargs: Any):
        raw = request.GET.get("wait")
        if raw is None:
            return await sync_view(request, pk=pk, **kwargs)
        wait = parse_wait(raw)
        if wait is None:
            return JsonResponse(bad_wait_body(), status=400)

        async def read() -> tuple[int, Any, Any]:
            response = await sync_view(request, pk=pk, **kwargs)
            return response.status_code, getattr(response, "data", None), response

        return (await long_poll(pk, wait, read, _release_connection))[2]

    run_detail.cls = view.cls  # (drf-spectacular documents the wrapped view)
    run_detail.initkwargs = view.initkwargs
    run_detail.csrf_exempt = True
    return run_detail


def waitable_start(view, run_body):
    """Wrap the DRF start view (``GraphRunsView.as_view()``) so that a POST honours ``?wait=``;
    ``run_body(user, pk)``: the run as its DRF view answers it (Http404 if not to be seen)."""
    sync_view = sync_to_async(view)

    async def graph_runs(request: HttpRequest, pk: int, **kwargs: Any):
        raw = request.GET.get("wait") if request.method == "POST" else None
        wait = None if raw is None else parse_wait(raw)
        if raw is not None and wait is None:  # (before anything is created)
            return JsonResponse(bad_wait_body(), status=400)
        response = await sync_view(request, pk=pk, **kwargs)
        if not wait or response.status_code != 202:
            return response
        run_id, user = response.data["id"], response.renderer_context["request"].user

        @sync_to_async
        def read() -> tuple[int, Any, Any]:
            try:
                return 200, run_body(user, run_id), None
            except Http404:
                return 404, {"detail": "No Run matches the given query.", "errors": []}, None

        code, response.data, _ = await long_poll(run_id, wait, read, _release_connection, look_first=False)
        started(response, code, run_id)
        return response  # (the view's DRF response, rendered with its new body by Django's handler)

    graph_runs.cls = view.cls  # (drf-spectacular documents the wrapped view)
    graph_runs.initkwargs = view.initkwargs
    graph_runs.csrf_exempt = True
    return graph_runs


def started(response: HttpResponse, code: int, run_id: int) -> None:
    """A waiting start's status code and Location (the last read's code: 404 if the run is gone)."""
    response.status_code = STARTED if code == 200 else code
    if code == 200:
        response["Location"] = f"/api/runs/{run_id}/"


async def wait_for_run_end(run_id: int, timeout: float, read: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """The run's fields (``read()``: a dict with its ``status``) once it has ended, or as they
    are when ``timeout`` seconds have passed: ``long_poll`` subscribed before the first read,
    without a database connection while it sleeps, the final fields taken from the
    ``run_finished`` event when the row still lags it. (Webhook triggers' wait mode.)"""

    async def read_answer() -> tuple[int, Any, Any]:
        return 200, await read(), None

    return (await long_poll(run_id, timeout, read_answer, _release_connection, look_first=False))[1]


@sync_to_async
def _release_connection() -> None:
    """Give this request thread's connection back (to the pool) before a long sleep; the last
    read takes one again. (Not inside a transaction: tests wrap requests in one.)"""
    if not connection.in_atomic_block:
        connection.close()


def _live(answer: tuple[int, Any, Any]) -> bool:
    return answer[0] == 200 and answer[1].get("status") not in FINAL


class _Subscription:
    """The run's group joined by a listener task on a channel of the layer's own (any layer)."""

    def __init__(self, layer, group: str, channel: str, finished: asyncio.Future[dict[str, Any]]) -> None:
        self.layer, self.group, self.channel = layer, group, channel
        self.listener = asyncio.ensure_future(_listen(layer, channel, finished))
        self.waiting: set[asyncio.Future[Any]] = {finished, self.listener}

    async def close(self) -> None:
        self.listener.cancel()  # (a cancelled receive also unsubscribes the channel)
        with contextlib.suppress(BaseException):
            await self.listener
        await self.layer.group_discard(self.group, self.channel)


class _Sink:
    """A waiting request's place in channels_redis's pub/sub layer: a local channel of the process
    that is never subscribed in Redis (only the run's group is), and whose messages are not queued
    but looked at as they arrive (the layer's receiver calls ``put_nowait``), without a task.

    The layer's own channels cost this request a SUBSCRIBE and an UNSUBSCRIBE of its channel, a
    listener task and its cancelling, besides the group's (un)subscription: a tenth of the web's
    CPU per waiting start."""

    _ids = itertools.count()

    def __init__(self, layer, loop_layer, group: str, finished: asyncio.Future[dict[str, Any]]) -> None:
        self.layer, self.loop_layer, self.group, self.finished = layer, loop_layer, group, finished
        self.channel = f"{loop_layer.prefix}kaizen-wait.{os.getpid()}.{next(self._ids)}"
        self.waiting: set[asyncio.Future[Any]] = {finished}

    async def open(self) -> _Sink:
        self.loop_layer.channels[self.channel] = self
        try:
            await self.loop_layer.group_add(self.group, self.channel)
        except BaseException:
            self.loop_layer.channels.pop(self.channel, None)
            raise
        return self

    def put_nowait(self, data: bytes) -> None:
        if not self.finished.done():
            try:
                _look_for_end(self.layer.deserialize(data), self.finished)
            except Exception:  # (not into the layer's receiver, which would pause every delivery)
                log.exception("a run's event batch could not be read")

    async def close(self) -> None:
        self.loop_layer.channels.pop(self.channel, None)
        await self.loop_layer.group_discard(self.group, self.channel)


async def _subscribe(pk: int, finished: asyncio.Future[dict[str, Any]]) -> _Subscription | _Sink:
    """Join run ``pk``'s end group (not the group of all its events); ``finished`` resolves on its end."""
    layer = get_channel_layer()
    if isinstance(layer, RedisPubSubChannelLayer):
        return await _Sink(layer, layer._get_layer(), run_end_group(pk), finished).open()
    channel = await layer.new_channel()
    await layer.group_add(run_end_group(pk), channel)
    return _Subscription(layer, run_end_group(pk), channel, finished)


def _look_for_end(message: dict[str, Any], finished: asyncio.Future[dict[str, Any]]) -> None:
    for event in message.get("events", ()):
        if event.get("event") in END_EVENTS and not event.get("node_id") and not finished.done():
            finished.set_result(event.get("data") or {})


async def _listen(layer, channel: str, finished: asyncio.Future[dict[str, Any]]) -> None:
    """Receive the group's event batches until cancelled; resolve ``finished`` on the end of the
    top-level run (nested runs' ends are ``subrun_finished``)."""
    while True:
        _look_for_end(await layer.receive(channel), finished)


def _take_final_fields(body: dict[str, Any], data: dict[str, Any]) -> None:
    if data.get("truncated"):  # (a preview only: the row will say; keep what it says now)
        return
    if "status" in data:
        body["status"] = data["status"]
    for key in ("outputs", "error", "cost_usd"):
        if key in data:
            body[key] = data[key]
    if "prompt_tokens" in data:
        prompt, completion = data.get("prompt_tokens") or 0, data.get("completion_tokens") or 0
        body["tokens"] = {"prompt": prompt, "completion": completion, "total": prompt + completion}
