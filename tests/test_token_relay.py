"""graphs/runner/token_relay.py: streamed pieces coalesced per node and call into one channel message
per interval, offsets kept, a retry's restart and the per-call cap honoured; nothing stored."""

from __future__ import annotations

import asyncio

from channels.layers import InMemoryChannelLayer

from graphs.events import run_group
from graphs.runner.token_relay import TokenRelay


async def listening(run_id: int):
    layer = InMemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add(run_group(run_id), channel)
    return layer, channel


async def test_pieces_are_coalesced_per_node_and_call(settings):
    layer, channel = await listening(7)
    relay = TokenRelay(7, interval_s=0.05, layer=layer)
    for i in range(100):
        relay.tokens("a", "#0", i * 2, "xy")
    relay.tokens("each/0/b", "#1", 0, "hello")
    message = await asyncio.wait_for(layer.receive(channel), 5)
    assert message["type"] == "run.tokens"
    assert sorted(message["chunks"], key=lambda c: c["node_id"]) == [
        {"node_id": "a", "key": "#0", "offset": 0, "text": "xy" * 100},
        {"node_id": "each/0/b", "key": "#1", "offset": 0, "text": "hello"}]
    relay.tokens("a", "#0", 200, "more")
    message = await asyncio.wait_for(layer.receive(channel), 5)
    assert message["chunks"] == [{"node_id": "a", "key": "#0", "offset": 200, "text": "more"}]
    await relay.close()
    assert relay.sent == 2


async def test_a_retry_that_starts_over_replaces_what_was_pending(settings):
    layer, channel = await listening(8)
    relay = TokenRelay(8, interval_s=0.05, layer=layer)
    relay.tokens("a", "#0", 0, "first try")
    relay.tokens("a", "#0", 0, "second")  # (offset 0 again: a new attempt)
    relay.tokens("a", "#0", 6, " try")
    message = await asyncio.wait_for(layer.receive(channel), 5)
    assert message["chunks"] == [{"node_id": "a", "key": "#0", "offset": 0, "text": "second try"}]
    await relay.close()


async def test_a_very_long_answer_is_streamed_up_to_the_cap(settings):
    settings.KAIZEN_TOKEN_STREAM_MAX_CHARS = 10
    layer, channel = await listening(9)
    relay = TokenRelay(9, interval_s=0.01, layer=layer)
    for i in range(10):
        relay.tokens("a", "#0", i * 3, "abc")
    message = await asyncio.wait_for(layer.receive(channel), 5)
    assert message["chunks"] == [{"node_id": "a", "key": "#0", "offset": 0, "text": "abcabcabca"}]
    await relay.close()
    assert relay.sent == 1


async def test_close_sends_what_is_pending_at_once(settings):
    layer, channel = await listening(10)
    relay = TokenRelay(10, interval_s=60, layer=layer)
    relay.tokens("a", "#0", 0, "tail")
    await relay.close()
    message = await asyncio.wait_for(layer.receive(channel), 1)
    assert message["chunks"][0]["text"] == "tail"
