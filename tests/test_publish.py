"""Run events from the worker to the run's channel group, many runs per Redis round trip
(graphs/runner/publish.py): what a subscriber of channels_redis's pub/sub layer receives is what
``group_send`` would have sent, each run's batches in their order, after they are stored."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from graphs import services
from graphs.events import batch_message, run_end_group, run_group
from graphs.models import RunEvent
from graphs.runner.execution import execute_run
from graphs.runner.publish import PipelinedPublisher, publisher_for
from tests.test_run_path_queries import join_chain

pytestmark = pytest.mark.django_db(transaction=True)


async def _subscribe(layer, run_id: int, group=run_group) -> str:
    channel = await layer.new_channel()
    await layer.group_add(group(run_id), channel)
    await asyncio.sleep(0.2)  # (the subscription reaches Redis)
    return channel


async def test_batches_queued_together_leave_in_one_round_trip_in_order(monkeypatch):
    layer = get_channel_layer()
    shared = publisher_for(layer)
    assert shared is not None, "the distributed mode publishes through the pipelined publisher"
    publisher = PipelinedPublisher(shared.address, shared.prefix, layer.serialize)
    channels = {run_id: await _subscribe(layer, run_id) for run_id in (900001, 900002)}
    ends = {run_id: await _subscribe(layer, run_id, run_end_group) for run_id in (900001, 900002)}
    batches = [(900001, [RunEvent(run_id=900001, seq=s, event=f"e{s}", node_id="", data={"s": s},
                                  created_at=_now()) for s in (1, 2)]),
               (900002, [RunEvent(run_id=900002, seq=1, event="run_started", node_id="", data={}, created_at=_now())]),
               (900001, [RunEvent(run_id=900001, seq=3, event="run_finished", node_id="", data={"status": "succeeded"},
                                  created_at=_now())])]
    start = publisher._ensure_thread
    monkeypatch.setattr(publisher, "_ensure_thread", lambda: None)  # queued before the thread looks
    futures = [publisher.publish(run_id, events) for run_id, events in batches]
    start()
    await asyncio.wait_for(asyncio.gather(*futures), 10)
    assert publisher.round_trips == 1
    got = {run_id: [] for run_id in channels}
    for run_id, count in ((900001, 2), (900002, 1)):
        for _ in range(count):
            got[run_id].append(await asyncio.wait_for(layer.receive(channels[run_id]), 5))
    assert got[900001] == [batch_message(batches[0][1]), batch_message(batches[2][1])]  # (as group_send sends it)
    assert got[900002] == [batch_message(batches[1][1])]
    assert [e["seq"] for m in got[900001] for e in m["events"]] == [1, 2, 3]
    # the end group hears the run's end alone, in the same round trip; a run that has not ended, nothing
    assert await asyncio.wait_for(layer.receive(ends[900001]), 5) == batch_message(batches[2][1])
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(ends[900002]), 0.5)


@pytest.mark.parametrize("mode", ["distributed", "embedded"])
async def test_a_runs_events_reach_its_subscribers_once_stored(user, settings, mode):
    if mode == "embedded":  # (the recorder sends through the in-memory layer itself)
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "graphs.runner.layers.ThreadSafeInMemoryChannelLayer"}}
    graph = await sync_to_async(lambda: services.graph_create(owner=user, name="g", spec=join_chain(3)).graph)()
    run = await sync_to_async(services.run_start)(graph=graph, user=user, inputs={"task": "t"})
    layer = get_channel_layer()
    assert (publisher_for(layer) is None) == (mode == "embedded")
    channel = await _subscribe(layer, run.pk)
    end = await _subscribe(layer, run.pk, run_end_group)
    assert await sync_to_async(execute_run, thread_sensitive=False)(run.pk) == "succeeded"
    stored = [e async for e in RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", "event")]
    heard: list[tuple[int, str]] = []
    while len(heard) < len(stored):
        message = await asyncio.wait_for(layer.receive(channel), 5)
        heard += [(e["seq"], e["event"]) for e in message["events"]]
    assert heard == stored and heard[-1][1] == "run_finished"
    # the end group: one message, the run's end alone
    message = await asyncio.wait_for(layer.receive(end), 5)
    assert [(e["seq"], e["event"]) for e in message["events"]] == [stored[-1]]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(end), 0.5)


async def test_streamed_tokens_leave_through_the_pipelined_publisher():
    from graphs.runner.token_relay import TokenRelay

    layer = get_channel_layer()
    publisher = publisher_for(layer)
    channel = await _subscribe(layer, 900003)
    relay = TokenRelay(900003, interval_s=0.01)
    before = publisher.round_trips
    relay.tokens("a", "#0", 0, "hello")
    message = await asyncio.wait_for(layer.receive(channel), 5)
    assert message == {"type": "run.tokens", "chunks": [{"node_id": "a", "key": "#0", "offset": 0, "text": "hello"}]}
    for _ in range(100):  # (the relay hears that it was sent just after the subscriber has it)
        if relay.sent:
            break
        await asyncio.sleep(0.01)
    await relay.close()
    assert relay.sent == 1 and publisher.round_trips > before


def _now():
    from django.utils import timezone

    return timezone.now()
