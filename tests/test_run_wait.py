"""The lean run path: SQL statements per start/read (pinned), and GET /api/runs/{id}/?wait=N,
which answers when the run's run_finished event arrives (graphs/api/run_wait.py).

In-process tests use the real channel layers (channels_redis pub/sub on the test Redis, and the
embedded in-memory one); end-to-end tests go through a real Daphne and a real worker, in the
distributed setup and in the embedded one (`manage.py kaizen_serve`: SQLite, in-process broker
and channel layer, worker threads in the web process)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apitokens.services import token_create
from graphs import services
from graphs.events import run_end_group
from graphs.models import Run
from tests.conftest import ROOT, DaphneProcess, free_port, worker_env
from tests.engine.test_node_human import approval_graph
from tests.helpers import chain

# Statement budgets, counted inside the test's transaction (so a service's atomic block shows as
# SAVEPOINT + RELEASE). POST: token, graph, version's declared inputs, INSERT run, INSERT audit
# entry; GET: token, run with graph + version number + creator, node states.
POST_RUN_MAX = 7
GET_RUN_MAX = 3


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_create(user=user, name='test')[1]}")
    return client


@pytest.mark.django_db
def test_starting_and_reading_a_run_take_few_statements(user, django_capture_on_commit_callbacks):
    client = token_client(user)
    graph_id = client.post("/api/graphs/", {"name": "g", "spec": chain(3)}, format="json").data["id"]
    with CaptureQueriesContext(connection) as start, django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/api/graphs/{graph_id}/runs/", {"inputs": {"task": "t"}}, format="json")
    assert response.status_code == 202, response.data
    assert len(start) <= POST_RUN_MAX, [q["sql"][:120] for q in start.captured_queries]
    assert not any('"spec"' in q["sql"] and "SELECT" in q["sql"] and "->" not in q["sql"] for q in start.captured_queries), \
        "the version's whole spec is not read to start a run"
    run = Run.objects.get(pk=response.data["id"])
    assert len(callbacks) == 1 and len(run.celery_task_id) == 36  # (the id the message will carry: no UPDATE later)
    with CaptureQueriesContext(connection) as read:
        body = client.get(f"/api/runs/{run.pk}/").data
    assert body["status"] == "queued" and body["version"] == 1 and body["created_by"] == "alice"
    assert len(read) <= GET_RUN_MAX, [q["sql"][:120] for q in read.captured_queries]


@pytest.mark.django_db
@pytest.mark.parametrize("wait", ["abc", "-1", "61", "nan", "inf", ""])
def test_bad_wait_values_are_400(api_client, user, wait):
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    run = Run.objects.create(graph=graph, version=graph.versions.first(), created_by=user)
    response = api_client.get(f"/api/runs/{run.pk}/?wait={wait}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "wait"


@pytest.mark.django_db
def test_wait_on_a_finished_run_answers_at_once_and_access_rules_hold(api_client, user, other_user):
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    done = Run.objects.create(graph=graph, version=graph.versions.first(), created_by=user, status="succeeded",
                              outputs={"result": "r"})
    assert api_client.get(f"/api/runs/{done.pk}/?wait=60").json()["outputs"] == {"result": "r"}
    assert api_client.get("/api/runs/999999/?wait=5").status_code == 404
    other = APIClient()
    other.force_authenticate(other_user)
    assert other.get(f"/api/runs/{done.pk}/?wait=5").status_code == 404  # (like a missing one: ids cannot be probed)


async def _finish_by_event_only(user, settings_override=None) -> tuple[dict, str]:
    """A waiting request answers with the run_finished event's outcome while the run's row still
    says "running": it was woken by the event, not by reading the database."""
    graph = await sync_to_async(lambda: services.graph_create(owner=user, name="g", spec=chain(1)).graph)()
    run = await Run.objects.acreate(graph=graph, version=await graph.versions.afirst(), created_by=user, status="running")
    client = AsyncClient()
    await client.aforce_login(user)
    request = asyncio.ensure_future(client.get(f"/api/runs/{run.pk}/?wait=20"))
    layer = get_channel_layer()
    finished = {"seq": 9, "event": "run_finished", "node_id": None, "ts": "2026-01-01T00:00:00+00:00",
                "data": {"status": "succeeded", "outputs": {"result": "from the event"}, "error": None,
                         "cost_usd": 0.5, "prompt_tokens": 3, "completion_tokens": 4}}
    deadline = time.monotonic() + 15
    while not request.done():  # sent until heard: messages before the subscription are simply lost
        assert time.monotonic() < deadline, "the waiting request never woke up"
        await layer.group_send(run_end_group(run.pk), {"type": "run.events", "events": [
            {**finished, "seq": 8, "event": "subrun_finished", "node_id": "loop/0"}, finished]})
        await asyncio.sleep(0.05)
    response = await request
    assert (await Run.objects.aget(pk=run.pk)).status == "running"
    return response.json(), response.status_code


@pytest.mark.django_db(transaction=True)
async def test_wait_is_woken_by_the_run_finished_event_redis_layer(user):
    body, status = await _finish_by_event_only(user)
    assert status == 200
    assert body["status"] == "succeeded" and body["outputs"] == {"result": "from the event"}
    assert body["tokens"] == {"prompt": 3, "completion": 4, "total": 7} and body["cost_usd"] == 0.5


@pytest.mark.django_db(transaction=True)
async def test_wait_is_woken_by_the_run_finished_event_in_memory_layer(user, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "graphs.runner.layers.ThreadSafeInMemoryChannelLayer"}}
    body, status = await _finish_by_event_only(user)
    assert status == 200 and body["status"] == "succeeded" and body["outputs"] == {"result": "from the event"}
    assert not get_channel_layer().groups, "the waiter left its group"


@pytest.mark.django_db(transaction=True)
async def test_wait_gives_up_after_wait_seconds_with_the_live_state(user):
    graph = await sync_to_async(lambda: services.graph_create(owner=user, name="g", spec=chain(1)).graph)()
    run = await Run.objects.acreate(graph=graph, version=await graph.versions.afirst(), created_by=user, status="running")
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.get(f"/api/runs/{run.pk}/?wait=0.3")
    assert response.status_code == 200 and response.json()["status"] == "running"


@pytest.mark.django_db(transaction=True)
async def test_wait_for_run_end_is_long_poll_for_a_plain_read(user):
    """Webhook triggers' wait mode: the row as read once ended, or the event's outcome while the
    row lags, or the live row when the time is up."""
    from graphs.api.run_wait import wait_for_run_end

    graph = await sync_to_async(lambda: services.graph_create(owner=user, name="g", spec=chain(1)).graph)()
    run = await Run.objects.acreate(graph=graph, version=await graph.versions.afirst(), created_by=user, status="running")
    reads = []

    async def read():
        reads.append(1)
        return dict(await Run.objects.filter(pk=run.pk).values("status", "outputs", "error").afirst())

    assert (await wait_for_run_end(run.pk, 0.3, read))["status"] == "running" and len(reads) == 2  # (before and after)
    waiting = asyncio.ensure_future(wait_for_run_end(run.pk, 20, read))
    deadline = time.monotonic() + 15
    while not waiting.done():  # sent until heard
        assert time.monotonic() < deadline, "the wait never woke up"
        await get_channel_layer().group_send(run_end_group(run.pk), {"type": "run.events", "events": [
            {"seq": 9, "event": "run_finished", "node_id": None, "data": {"status": "failed", "error": {"message": "x"}}}]})
        await asyncio.sleep(0.05)
    assert await waiting == {"status": "failed", "outputs": None, "error": {"message": "x"}}
    await Run.objects.filter(pk=run.pk).aupdate(status="succeeded", outputs={"a": 1})
    reads.clear()
    assert await wait_for_run_end(run.pk, 20, read) == {"status": "succeeded", "outputs": {"a": 1}, "error": None}
    assert len(reads) == 1  # ended at the first read: no wait


def http(method: str, url: str, token: str, body: dict | None = None, timeout: float = 60) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"{}")
        except ValueError:
            return exc.code, {"raw": raw[:500].decode(errors="replace")}


def start_and_wait(base: str, token: str, spec: dict) -> tuple[dict, int]:
    status, graph = http("POST", f"{base}/api/graphs/", token, {"name": "wait", "spec": spec})
    assert status == 201, graph
    status, run = http("POST", f"{base}/api/graphs/{graph['id']}/runs/", token, {"inputs": {"task": "go"}})
    assert status == 202, run
    polls = 0
    while True:  # (one request is enough unless the machine is very slow: each waits up to 30 s)
        status, body = http("GET", f"{base}/api/runs/{run['id']}/?wait=30", token)
        polls += 1
        assert status == 200, body
        if body["status"] in ("succeeded", "failed", "interrupted", "cancelled") or polls == 3:
            return body, polls


def test_wait_through_daphne_and_a_worker_distributed(user, daphne_server, celery_worker, fake_llm):
    fake_llm.script(match="step 2", reply={"result": "done"}, latency=0.3)
    token = token_create(user=user, name="test")[1]
    body, polls = start_and_wait(daphne_server.url, token, chain(2))
    assert body["status"] == "succeeded" and body["outputs"] == {"result": "done"}, body
    assert polls == 1
    assert len(fake_llm.calls(completed=True)) == 2
    assert "Traceback" not in daphne_server.log_path.read_text()


def test_waiting_requests_hold_no_database_connection(user, fake_llm, transactional_db, tmp_path):
    """Daphne with a pool of 2 connections (3 s to get one): six requests waiting on a queued run
    (no worker) and a plain read all get answers; had the waiters kept their connections, the
    later ones would fail with a pool timeout (500)."""
    from concurrent.futures import ThreadPoolExecutor

    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("needs PostgreSQL and Redis")
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    run = Run.objects.create(graph=graph, version=graph.versions.first(), created_by=user)
    token = token_create(user=user, name="test")[1]
    server = DaphneProcess(worker_env(connection.settings_dict["NAME"], fake_llm.base_url, KAIZEN_DB_POOL_MAX="2",
                                      KAIZEN_DB_POOL_MIN="1", KAIZEN_DB_POOL_TIMEOUT_S="3"), tmp_path)
    try:
        with ThreadPoolExecutor(6) as pool:
            waiters = [pool.submit(http, "GET", f"{server.url}/api/runs/{run.pk}/?wait=6", token) for _ in range(6)]
            time.sleep(1.5)  # (let them all reach their sleep)
            plain = http("GET", f"{server.url}/api/runs/{run.pk}/", token)
            answers = [w.result() for w in waiters]
    finally:
        server.stop()
    assert plain[0] == 200 and plain[1]["status"] == "queued"
    assert [status for status, _ in answers] == [200] * 6
    assert all(body["status"] == "queued" for _, body in answers)


def test_wait_through_the_embedded_server(fake_llm_server, tmp_path):
    """`manage.py kaizen_serve` with no DATABASE_URL / REDIS_URL: SQLite, the in-process broker and
    the in-memory channel layer; the long poll wakes on the event published by the worker thread."""
    fake_llm_server.reset()
    fake_llm_server.script(match="step 2", reply={"result": "embedded"}, latency=0.3)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"KAIZEN_VAR_DIR": str(tmp_path), "OPENAI_BASE_URL": fake_llm_server.base_url, "OPENAI_API_KEY": "k",
                "KAIZEN_LLM_MAX_RETRIES": "0", "PYTHONUNBUFFERED": "1", "KAIZEN_SWEEP_S": "0"})
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "manage.py", "kaizen_serve", "--port", str(port), "--no-demo"],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/api/node-kinds/", timeout=1)
                break
            except Exception:
                assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.2)
        subprocess.run([sys.executable, "manage.py", "shell", "-c",
                        "from django.contrib.auth.models import User; User.objects.create_user('waiter', password='pw-123456')"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        made = subprocess.run([sys.executable, "manage.py", "kaizen_token", "waiter"], cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True)
        token = made.stdout.split()[2]
        body, polls = start_and_wait(base, token, chain(2))
        assert body["status"] == "succeeded" and body["outputs"] == {"result": "embedded"}, body
        assert polls == 1
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(params=["1", "0"], ids=["fast", "drf"])
def api_server(request, fake_llm, transactional_db, tmp_path):
    """Daphne with the ASGI fast path (KAIZEN_FAST_API=1, the default) or every request through DRF."""
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("needs PostgreSQL and Redis")
    server = DaphneProcess(worker_env(connection.settings_dict["NAME"], fake_llm.base_url, KAIZEN_FAST_API=request.param),
                           tmp_path)
    yield server
    server.stop()


def http_heads(method: str, url: str, token: str, body: dict) -> tuple[int, dict, dict]:
    """As ``http``, with the response's headers."""
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def test_one_request_starts_a_run_and_answers_with_its_result(user, api_server, celery_worker, fake_llm):
    fake_llm.script(match="step 2", reply={"result": "done"}, latency=0.3)
    token = token_create(user=user, name="test")[1]
    graph = http("POST", f"{api_server.url}/api/graphs/", token, {"name": "wait", "spec": chain(2)})[1]
    status, body, heads = http_heads("POST", f"{api_server.url}/api/graphs/{graph['id']}/runs/?wait=30", token,
                                     {"inputs": {"task": "go"}})
    assert status == 201 and heads["Location"] == f"/api/runs/{body['id']}/", (status, body)
    assert body["status"] == "succeeded" and body["outputs"] == {"result": "done"}, body
    assert body["nodes"]["s2"]["status"] == "succeeded" and body["tokens"]["total"] > 0
    assert http("GET", f"{api_server.url}/api/runs/{body['id']}/?wait=1", token) == (200, body)  # (GET's body)
    # a run parked on a human node ends the wait, as a GET's
    graph = http("POST", f"{api_server.url}/api/graphs/", token, {"name": "approval", "spec": approval_graph()})[1]
    sent = time.monotonic()
    status, body, _ = http_heads("POST", f"{api_server.url}/api/graphs/{graph['id']}/runs/?wait=30", token, {"inputs": {"task": "t"}})
    assert status == 201 and body["status"] == "waiting" and body["waiting"]["approve"]["inputs"] == {"subject": "ok"}, body
    assert time.monotonic() - sent < 20
    assert "Traceback" not in api_server.log_path.read_text()


def test_a_start_that_waits_gives_up_after_wait_seconds(user, api_server, celery_worker, fake_llm):
    """The run outlives ``wait``: the answer comes after about ``wait`` seconds with the live run
    (201, as GET ?wait answers 200 when its time is up), and the run finishes all the same."""
    fake_llm.script(match="step 1", reply={"result": "slow"}, latency=4)
    token = token_create(user=user, name="test")[1]
    graph = http("POST", f"{api_server.url}/api/graphs/", token, {"name": "wait", "spec": chain(1)})[1]
    sent = time.monotonic()
    status, body, heads = http_heads("POST", f"{api_server.url}/api/graphs/{graph['id']}/runs/?wait=1.5", token,
                                     {"inputs": {"task": "go"}})
    took = time.monotonic() - sent
    # the answer came after `wait` (a lower bound: load only lengthens it) and before the run's one
    # LLM call was answered (order of arrival, not a wall-time ceiling)
    answered_first = not fake_llm.calls("step 1", completed=True)
    assert status == 201 and heads["Location"] == f"/api/runs/{body['id']}/", (status, body)
    assert body["status"] in ("queued", "running") and body["outputs"] is None, body
    assert took >= 1.5 and answered_first, (took, answered_first)
    status, final = http("GET", f"{api_server.url}/api/runs/{body['id']}/?wait=30", token)
    assert final["status"] == "succeeded" and final["outputs"] == {"result": "slow"}, final


def test_a_bad_wait_on_a_start_creates_nothing(user, api_server):
    from audit.models import AuditEntry

    token = token_create(user=user, name="test")[1]
    graph = http("POST", f"{api_server.url}/api/graphs/", token, {"name": "wait", "spec": chain(1)})[1]
    audits = AuditEntry.objects.count()
    for wait in ("abc", "-1", "61", "nan", ""):
        status, body = http("POST", f"{api_server.url}/api/graphs/{graph['id']}/runs/?wait={wait}", token, {"inputs": {"task": "go"}})
        assert status == 400 and body["errors"] == [{"path": "wait", "message": "must be a number of seconds from 0 to 60"}], body
    assert not Run.objects.filter(graph_id=graph["id"]).exists() and AuditEntry.objects.count() == audits
    status, body = http("POST", f"{api_server.url}/api/graphs/{graph['id']}/runs/?wait=0", token, {"inputs": {"task": "go"}})
    assert status == 202 and set(body) == {"id", "status", "url"}, body  # (wait=0: as without)
