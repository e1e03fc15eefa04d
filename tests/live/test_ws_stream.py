"""ws/runs/<id>/ through a real Daphne, a real worker, Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from graphs import services
from graphs.models import RunEvent
from tests.conftest import session_cookie
from tests.helpers import chain, wait_for_run

pytestmark = pytest.mark.django_db(transaction=True)


def ws_url(server, run_id, after=0):
    return f"ws://127.0.0.1:{server.port}/ws/runs/{run_id}/?after={after}"


def headers(user):
    return {"Cookie": f"sessionid={session_cookie(user)}"} if user else {}


async def collect(server, run_id, user, after=0, stop_after=None, timeout=30, tokens=None):
    """Events received until run_finished (or ``stop_after`` events, then disconnect); streamed
    answers' frames go to ``tokens`` (as (events received so far, chunk)) when given."""
    got = []
    async with connect(ws_url(server, run_id, after), additional_headers=await sync_to_async(headers)(user),
                       origin=server.url, max_size=None) as ws:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            if frame["type"] == "tokens":
                if tokens is not None:
                    tokens.extend((len(got), chunk) for chunk in frame["chunks"])
                continue
            assert frame["type"] == "events"
            got.extend(frame["events"])
            if got[-1]["event"] == "run_finished" or (stop_after and len(got) >= stop_after):
                return got


def stored_seqs(run_id):
    return list(RunEvent.objects.filter(run_id=run_id).order_by("seq").values_list("seq", flat=True))


def start(user, spec, inputs):
    graph = services.graph_create(owner=user, name="ws", spec=spec).graph
    return services.run_start(graph=graph, user=user, inputs=inputs)


async def test_client_receives_every_event_in_order(user, celery_worker, daphne_server, fake_llm):
    fake_llm.script(latency=0.3)
    run = await sync_to_async(start)(user, chain(3), {"task": "t"})
    got = await collect(daphne_server, run.pk, user)
    seqs = [m["seq"] for m in got]
    assert seqs == list(range(1, len(seqs) + 1))
    assert seqs == await sync_to_async(stored_seqs)(run.pk)
    assert got[0]["event"] == "run_started" and got[-1]["data"]["status"] == "succeeded"


async def test_reconnect_with_after_ends_with_the_complete_sequence(user, celery_worker, daphne_server, fake_llm):
    fake_llm.script(latency=0.4)
    run = await sync_to_async(start)(user, chain(4), {"task": "t"})
    first = await collect(daphne_server, run.pk, user, stop_after=4)
    await asyncio.sleep(1.0)  # events keep coming while we are away
    rest = await collect(daphne_server, run.pk, user, after=first[-1]["seq"])
    seqs = [m["seq"] for m in first + rest]
    assert seqs == list(range(1, len(seqs) + 1)), "no gap, no duplicate"
    assert seqs == await sync_to_async(stored_seqs)(run.pk)


async def test_finished_run_replays_from_the_database(user, celery_worker, daphne_server, fake_llm):
    run = await sync_to_async(start)(user, chain(2), {"task": "t"})
    await sync_to_async(wait_for_run)(run.pk)
    got = await collect(daphne_server, run.pk, user, after=3)
    assert [m["seq"] for m in got] == (await sync_to_async(stored_seqs)(run.pk))[3:]


@pytest.mark.parametrize("who, code", [("other", 4404), ("anonymous", 4403), ("unknown-run", 4404)])
async def test_refused(user, other_user, daphne_server, who, code):
    run = await sync_to_async(services.graph_create)(owner=user, name="x", spec=chain(1))
    run_id = 999999 if who == "unknown-run" else (await sync_to_async(services.run_start)(graph=run.graph, user=user, inputs={"task": "t"})).pk
    client = {"other": other_user, "anonymous": None, "unknown-run": user}[who]
    async with connect(ws_url(daphne_server, run_id), additional_headers=await sync_to_async(headers)(client),
                       origin=daphne_server.url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == code


async def test_foreign_origin_is_refused(user, daphne_server):
    graph = (await sync_to_async(services.graph_create)(owner=user, name="x", spec=chain(1))).graph
    run = await sync_to_async(services.run_start)(graph=graph, user=user, inputs={"task": "t"})
    with pytest.raises((InvalidStatus, ConnectionClosed)):
        async with connect(ws_url(daphne_server, run.pk), additional_headers=await sync_to_async(headers)(user),
                           origin="http://evil.example") as ws:
            await asyncio.wait_for(ws.recv(), 5)


async def test_large_payloads_are_previewed_in_the_stream(user, celery_worker, daphne_server, fake_llm):
    big = "x" * 1_000_000
    fake_llm.script(reply={"result": big})
    run = await sync_to_async(start)(user, chain(1), {"task": "t"})
    got = await collect(daphne_server, run.pk, user)
    answer = next(m for m in got if m["event"] == "post_llm_call")
    assert answer["data"]["truncated"] is True and answer["data"]["url"].endswith(f"/events/{answer['seq']}/")
    assert len(json.dumps(answer)) < 40_000
    stored = await sync_to_async(RunEvent.objects.get)(run_id=run.pk, seq=answer["seq"])
    assert len(stored.data["answer"]) > 1_000_000


async def test_events_whose_stream_messages_were_lost_still_arrive(user, daphne_server):
    """Stored but never published (a dropped channels_redis message): the consumer's tail watch
    finds them in the database, so the client still ends complete."""
    from datetime import UTC, datetime

    from graphs.models import Run

    graph = (await sync_to_async(services.graph_create)(owner=user, name="silent", spec=chain(1))).graph

    def make_run():
        return Run.objects.create(graph=graph, version=graph.versions.first(), created_by=user, status="running")

    run = await sync_to_async(make_run)()

    def store(seq, name):
        RunEvent.objects.create(run=run, seq=seq, event=name, created_at=datetime.now(UTC), data={})

    async with connect(ws_url(daphne_server, run.pk), additional_headers=await sync_to_async(headers)(user),
                       origin=daphne_server.url) as ws:
        await asyncio.sleep(0.3)
        for seq, name in enumerate(["run_started", "pre_node", "run_finished"], start=1):
            await sync_to_async(store)(seq, name)
        got = []
        while not got or got[-1]["event"] != "run_finished":
            frame = json.loads(await asyncio.wait_for(ws.recv(), 6))
            got.extend(frame["events"])
    assert [e["seq"] for e in got] == [1, 2, 3]


async def test_node_id_is_the_same_over_the_websocket_and_the_events_api(user, celery_worker, daphne_server, fake_llm):
    """One wire format: run-level events carry node_id null on every path (live, replayed, API)."""
    import urllib.request

    fake_llm.script(latency=0.2)
    run = await sync_to_async(start)(user, chain(2), {"task": "t"})
    live = await collect(daphne_server, run.pk, user)
    replayed = await collect(daphne_server, run.pk, user, after=0)
    cookie = await sync_to_async(headers)(user)
    request = urllib.request.Request(f"{daphne_server.url}/api/runs/{run.pk}/events/", headers=cookie)
    body = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read()))
    one = await asyncio.to_thread(lambda: json.loads(urllib.request.urlopen(urllib.request.Request(
        f"{daphne_server.url}/api/runs/{run.pk}/events/1/", headers=cookie), timeout=10).read()))
    shapes = [[(e["seq"], e["event"], e["node_id"]) for e in events] for events in (live, replayed, body["events"])]
    assert shapes[0] == shapes[1] == shapes[2]
    by_event = {event: node for _seq, event, node in shapes[0]}
    assert by_event["run_started"] is None and by_event["run_finished"] is None and one["node_id"] is None
    assert {node for _seq, event, node in shapes[0] if event == "pre_node"} == {"s1", "s2"}


async def test_streamed_answers_arrive_as_ephemeral_frames_before_the_call_ends(user, celery_worker, daphne_server, fake_llm):
    """The worker streams the answer; its text reaches the websocket in coalesced "tokens" frames
    before the call's post_llm_call, pieced together by offset it is the stored answer, and
    nothing of it is stored as an event."""
    fake_llm.script(match="step 1", reply={"result": "word " * 40}, chunk_delay=0.03)
    run = await sync_to_async(start)(user, chain(1), {"task": "t"})
    tokens = []
    got = await collect(daphne_server, run.pk, user, tokens=tokens)
    (post,) = [e for e in got if e["event"] == "post_llm_call"]
    post_at = got.index(post)
    assert tokens and all(c["node_id"] == "s1" and c["key"] == "#0" for _n, c in tokens)
    assert tokens[0][0] <= post_at, "text arrived before the call's answer was stored"
    text = ""
    for _n, c in tokens:
        assert c["offset"] <= len(text), "no gap (nothing dropped on loopback)"
        text = text[:c["offset"]] + c["text"]
    assert text == post["data"]["answer"]
    frames_per_chunk = len(tokens) / fake_llm.calls("step 1")[0]["chunks"]
    assert frames_per_chunk < 1, "pieces are coalesced"
    stored = await sync_to_async(lambda: set(RunEvent.objects.filter(run_id=run.pk).values_list("event", flat=True)))()
    assert not {"tokens", "run.tokens"} & stored
