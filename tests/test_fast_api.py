"""The API's ASGI fast path (graphs/api/fast.py) answers exactly as the DRF views do.

Every request is sent twice through real ASGI applications in this process: to Django's own
handler (the DRF views: the reference) and to the fast path in front of it, and the two answers
are compared: status, JSON body, the headers a client or browser reads. A recorder around
Django's handler tells whether the fast path answered itself or handed the request over.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from apitokens.models import PersonalAccessToken
from apitokens.services import token_create, token_revoke
from audit.models import AuditEntry
from graphs import services
from graphs.api import auth_cache
from graphs.api.fast import FastRoutes
from graphs.models import NodeState, Run
from tests.helpers import chain

HEADERS = ("content-type", "x-frame-options", "x-content-type-options", "referrer-policy", "cross-origin-opener-policy",
           "content-security-policy", "vary", "allow", "www-authenticate")

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """Django's ASGI handler, counting the requests it is given."""

    def __init__(self, app) -> None:
        self.app, self.calls = app, 0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        return await self.app(scope, receive, send)

    def __getattr__(self, name):
        return getattr(self.app, name)


async def call(app, method: str, path: str, body=None, token: str | None = None, content_type="application/json",
               cookie: str | None = None):
    path, _, query = path.partition("?")
    raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
    headers = [(b"host", b"127.0.0.1:8000")]
    if token is not None:
        headers.append((b"authorization", f"Token {token}".encode()))
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    if method == "POST":
        headers += [(b"content-type", content_type.encode()), (b"content-length", str(len(raw)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    inbox = [{"type": "http.request", "body": raw, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        if inbox:
            return inbox.pop(0)
        await asyncio.Event().wait()  # (the client stays connected)

    async def send(message):
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 60)
    start = sent[0]
    content = b"".join(m.get("body", b"") for m in sent[1:])
    heads = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], (json.loads(content) if content else None), heads


@pytest.fixture
def apps():
    from kaizen_web.asgi import django_asgi_app

    recorder = Recorder(django_asgi_app)
    return django_asgi_app, FastRoutes(recorder), recorder


@pytest.fixture
def world(user, other_user):
    graph = services.graph_create(owner=user, name="g", spec=chain(2)).graph
    others = services.graph_create(owner=other_user, name="theirs", spec=chain(1)).graph
    version = graph.versions.first()
    queued = Run.objects.create(graph=graph, version=version, created_by=user, inputs={"task": "q"})
    done = Run.objects.create(
        graph=graph, version=version, created_by=user, inputs={"task": "d"}, status="succeeded", outputs={"result": "ü ok"},
        cost_usd=Decimal("0.01234567"), budget_usd=Decimal("1.5"), prompt_tokens=3, completion_tokens=4, last_seq=9,
        started_at=datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC), finished_at=datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC))
    NodeState.objects.create(run=done, node_id="s1", status="succeeded", data={"status": "succeeded", "outputs": {"result": "x"}, "attempts": 1})
    theirs = Run.objects.create(graph=others, version=others.versions.first(), created_by=other_user)
    return {"token": token_create(user=user, name="t")[1], "graph": graph.pk, "others": others.pk,
            "queued": queued.pk, "done": done.pk, "theirs": theirs.pk}


def same(reference, fast, *, body=True):
    assert fast[0] == reference[0], (reference, fast)
    if body:
        assert fast[1] == reference[1]
    for name in HEADERS:
        assert fast[2].get(name) == reference[2].get(name), name


async def test_reads_answer_as_drf_does(apps, world):
    django_app, fast, recorder = apps
    t = world["token"]
    for path in (f"/api/runs/{world['queued']}/", f"/api/runs/{world['done']}/", f"/api/runs/{world['done']}/?wait=0",
                 f"/api/runs/{world['done']}/?wait=30", f"/api/runs/{world['theirs']}/", "/api/runs/999999/",
                 f"/api/runs/{world['theirs']}/?wait=5", f"/api/runs/{world['queued']}/?wait=abc"):
        before = recorder.calls
        answer = await call(fast, "GET", path, token=t)
        assert recorder.calls == before, f"{path}: handed to Django"
        same(await call(django_app, "GET", path, token=t), answer)
    body = (await call(fast, "GET", f"/api/runs/{world['done']}/", token=t))[1]
    assert body["nodes"]["s1"]["status"] == "succeeded" and body["started_at"].endswith("Z") and body["cost_usd"] == 0.01234567


async def test_starts_answer_as_drf_does(apps, world):
    django_app, fast, recorder = apps
    t, g = world["token"], world["graph"]
    for body in ({"inputs": {"task": "t"}}, {"inputs": {"task": "t"}, "version": 1, "dry_run": True}, {"inputs": {"task": "t"}, "version": 99},
                 {"inputs": {}}, {"inputs": {"task": "t", "extra": 1}}):
        before = recorder.calls
        answer = await call(fast, "POST", f"/api/graphs/{g}/runs/", body, token=t)
        assert recorder.calls == before, f"{body}: handed to Django"
        reference = await call(django_app, "POST", f"/api/graphs/{g}/runs/", body, token=t)
        same(reference, answer, body=answer[0] != 202)
        if answer[0] == 202:
            ours, theirs = [await Run.objects.select_related("version").aget(pk=a[1]["id"]) for a in (answer, reference)]
            assert answer[1] == {"id": ours.pk, "status": "queued", "url": f"/runs/{ours.pk}/"}
            for field in ("inputs", "dry_run", "created_by_id", "graph_id", "version_id", "status", "budget_usd"):
                assert getattr(ours, field) == getattr(theirs, field), field
            assert len(ours.celery_task_id) == 36 and ours.enqueued_at is not None
            assert await AuditEntry.objects.filter(event="run.started", run_id=ours.pk).aexists()
    before = recorder.calls
    same(await call(django_app, "POST", f"/api/graphs/{world['others']}/runs/", {"inputs": {"task": "t"}}, token=t),
         await call(fast, "POST", f"/api/graphs/{world['others']}/runs/", {"inputs": {"task": "t"}}, token=t))
    assert recorder.calls == before  # (the fast path answered the 404 itself)


@pytest.mark.parametrize("body", [{"inputs": {"task": "t"}, "bogus": 1}, {"inputs": "text"}, {"inputs": {"task": "t"}, "version": "1"},
                                  {"inputs": {"task": "t"}, "budget_usd": "0"}, b"{not json", b"[1, 2]", b'{"inputs": {"task": "\\u0000"}}'])
async def test_other_bodies_are_drfs_to_judge(apps, world, body):
    django_app, fast, recorder = apps
    path = f"/api/graphs/{world['graph']}/runs/"
    before = recorder.calls
    answer = await call(fast, "POST", path, body, token=world["token"])
    assert recorder.calls == before + 1  # (handed over)
    reference = await call(django_app, "POST", path, body, token=world["token"])
    same(reference, answer, body=answer[0] != 202)  # (a new run's id differs)
    assert answer[0] == (202 if body == {"inputs": {"task": "t"}, "version": "1"} else 400)


async def test_no_or_bad_credentials_are_drfs(apps, world):
    django_app, fast, recorder = apps
    path = f"/api/runs/{world['queued']}/"
    for token in (None, "nope"):
        before = recorder.calls
        answer = await call(fast, "GET", path, token=token)
        assert recorder.calls == before + 1 and answer[0] in (401, 403)  # (DRF: 403 when no scheme was tried)
        same(await call(django_app, "GET", path, token=token), answer)


async def test_a_session_cookie_beside_a_token_is_drfs(apps, world, other_user):
    """A browser's request (a session cookie beside the token) goes to DRF, which answers it as the
    token's user (personal access tokens authenticate first)."""
    from tests.conftest import session_cookie

    django_app, fast, recorder = apps
    cookie = await sync_to_async(session_cookie)(other_user)
    for method, path, body in (("GET", f"/api/runs/{world['queued']}/", None),
                               ("POST", f"/api/graphs/{world['graph']}/runs/", {"inputs": {"task": "t"}})):
        before = recorder.calls
        answer = await call(fast, method, path, body, token=world["token"], cookie=cookie)
        assert recorder.calls == before + 1 and answer[0] in (200, 202)  # (handed over; the token's user's graph)
        same(await call(django_app, method, path, body, token=world["token"], cookie=cookie), answer, body=method == "GET")


async def test_throttles_count_both_ways_and_answer_429(apps, world, settings):
    django_app, fast, _ = apps
    settings.KAIZEN_API_RATES = {**settings.KAIZEN_API_RATES, "runs": "2/min"}
    path, body, t = f"/api/graphs/{world['graph']}/runs/", {"inputs": {"task": "t"}}, world["token"]
    assert (await call(fast, "POST", path, body, token=t))[0] == 202
    assert (await call(django_app, "POST", path, body, token=t))[0] == 202
    reference, answer = await call(django_app, "POST", path, body, token=t), await call(fast, "POST", path, body, token=t)
    assert answer[0] == reference[0] == 429
    assert answer[1]["detail"].startswith("Request was throttled. Expected available in")
    assert 1 <= int(answer[2]["retry-after"]) <= 60 and answer[1]["errors"] == []
    same(reference, answer, body=False)


async def test_a_revoked_token_or_a_deactivated_user_is_refused_at_once(apps, world, user):
    _, fast, recorder = apps
    path, t = f"/api/runs/{world['queued']}/", world["token"]
    assert (await call(fast, "GET", path, token=t))[0] == 200
    assert auth_cache.peek(auth_cache.digest(f"Token {t}")) is not None  # (remembered)
    revoked = await PersonalAccessToken.objects.aget(user=user, name="t")
    await sync_to_async(token_revoke)(token=revoked, user=user)  # (an UPDATE: the service says so with a signal)
    assert (await call(fast, "GET", path, token=t))[0] == 401
    new = await sync_to_async(lambda: token_create(user=user, name="new")[1])()
    assert (await call(fast, "GET", path, token=new))[0] == 200
    user.is_active = False
    await user.asave()
    before = recorder.calls
    assert (await call(fast, "GET", path, token=new))[0] in (401, 403)
    assert recorder.calls == before + 1


async def test_roles_hold_on_the_fast_path(apps, world, other_user):
    """A viewer of the graph's workspace reads its runs but may not start one (403, as DRF says);
    a runner may. The permission matrix calls the DRF views only: this is the fast path's share."""
    from workspaces.models import Membership, Role

    django_app, fast, recorder = apps
    from graphs.models import Graph

    graph = await Graph.objects.aget(pk=world["graph"])
    membership = await Membership.objects.acreate(user=other_user, workspace_id=graph.workspace_id, role=Role.VIEWER)
    t = await sync_to_async(lambda: token_create(user=other_user, name="viewer")[1])()
    path, body = f"/api/graphs/{graph.pk}/runs/", {"inputs": {"task": "t"}}
    runs_before = await Run.objects.filter(graph=graph).acount()
    before = recorder.calls
    answer = await call(fast, "POST", path, body, token=t)
    assert recorder.calls == before and answer[0] == 403, answer
    same(await call(django_app, "POST", path, body, token=t), answer)
    assert await Run.objects.filter(graph=graph).acount() == runs_before
    read = await call(fast, "GET", f"/api/runs/{world['queued']}/", token=t)
    assert read[0] == 200
    membership.role = Role.RUNNER
    await membership.asave()
    assert (await call(fast, "POST", path, body, token=t))[0] == 202


async def test_starts_that_wait_answer_as_drf_does(apps, world, other_user):
    """``POST /api/graphs/{id}/runs/?wait=``: the same codes, bodies and headers both ways. No worker
    here, so the run stays queued: the answer comes when ``wait`` is up, 201 with the run's URL and
    the body a GET gives; a bad wait is refused before anything is created; errors are the start's."""
    import time

    from workspaces.models import Membership, Role

    django_app, fast, recorder = apps
    t, path, body = world["token"], f"/api/graphs/{world['graph']}/runs/", {"inputs": {"task": "t"}}
    counts = [await Run.objects.acount(), await AuditEntry.objects.acount()]
    for wait in ("abc", "-1", "61", "nan", ""):
        answer = await call(fast, "POST", f"{path}?wait={wait}", body, token=t)
        assert answer[0] == 400 and answer[1]["errors"][0]["path"] == "wait", answer
        same(await call(django_app, "POST", f"{path}?wait={wait}", body, token=t), answer)
    assert [await Run.objects.acount(), await AuditEntry.objects.acount()] == counts, "nothing was created"
    answers = []
    for app in (fast, django_app):
        before, sent = recorder.calls, time.monotonic()
        answers.append(await call(app, "POST", f"{path}?wait=0.5", body, token=t))
        assert 0.5 <= time.monotonic() - sent < 5
        assert app is django_app or recorder.calls == before, "the fast path answered"
    for status, run, heads in answers:
        assert status == 201 and run["status"] == "queued" and heads["location"] == f"/api/runs/{run['id']}/"
        assert run == (await call(django_app, "GET", f"/api/runs/{run['id']}/", token=t))[1]  # (GET's body)
    same(answers[1], answers[0], body=False)
    for query in ("?wait=0", ""):  # today's answer
        reference, answer = [await call(app, "POST", f"{path}{query}", body, token=t) for app in (django_app, fast)]
        same(reference, answer, body=False)
        assert answer[0] == 202 and set(answer[1]) == {"id", "status", "url"} and "location" not in answer[2]
    for wrong, bad in ((f"/api/graphs/{world['others']}/runs/?wait=30", body), (f"{path}?wait=30", {"inputs": {}})):
        sent = time.monotonic()
        answer = await call(fast, "POST", wrong, bad, token=t)
        same(await call(django_app, "POST", wrong, bad, token=t), answer)
        assert answer[0] in (400, 404) and time.monotonic() - sent < 5  # (at once: no run to wait for)
    from graphs.models import Graph

    graph = await Graph.objects.aget(pk=world["graph"])
    await Membership.objects.acreate(user=other_user, workspace_id=graph.workspace_id, role=Role.VIEWER)
    viewer = await sync_to_async(lambda: token_create(user=other_user, name="viewer")[1])()
    runs = await Run.objects.acount()
    answer = await call(fast, "POST", f"{path}?wait=30", body, token=viewer)
    assert answer[0] == 403
    same(await call(django_app, "POST", f"{path}?wait=30", body, token=viewer), answer)
    assert await Run.objects.acount() == runs


async def test_a_start_that_waits_misses_no_end_before_its_subscription(apps, world, monkeypatch):
    """The run ends (and its run_finished event is published, to nobody) between the start and the
    request's subscription to the run's group: the read after subscribing finds it ended, and the
    answer comes at once, both ways."""
    import time

    from graphs.api import run_wait

    subscribe = run_wait._subscribe

    async def ended_first(pk, finished):
        await Run.objects.filter(graph_id=world["graph"], status="queued").aupdate(status="succeeded", outputs={"result": "early"})
        return await subscribe(pk, finished)

    monkeypatch.setattr(run_wait, "_subscribe", ended_first)
    django_app, fast, _ = apps
    for app in (fast, django_app):
        sent = time.monotonic()
        status, body, _heads = await call(app, "POST", f"/api/graphs/{world['graph']}/runs/?wait=20", {"inputs": {"task": "t"}},
                                          token=world["token"])
        assert status == 201 and body["status"] == "succeeded" and body["outputs"] == {"result": "early"}, body
        assert time.monotonic() - sent < 5
