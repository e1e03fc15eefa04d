"""The embedded default's in-memory channel layer delivers at once across threads' loops."""

from __future__ import annotations

import asyncio
import threading
import time

from graphs.runner.layers import ThreadSafeInMemoryChannelLayer


def test_a_publish_from_another_threads_loop_wakes_the_receiver_at_once():
    layer = ThreadSafeInMemoryChannelLayer()
    joined = threading.Event()
    got: dict = {}

    async def consumer():  # Daphne's loop: nothing else would wake it before the 5 s timeout
        channel = await layer.new_channel()
        await layer.group_add("run.1", channel)
        joined.set()
        message = await asyncio.wait_for(layer.receive(channel), 5)
        got["message"], got["at"] = message, time.monotonic()

    receiver = threading.Thread(target=lambda: asyncio.run(consumer()))
    receiver.start()
    assert joined.wait(5)
    time.sleep(0.1)  # the receiver is parked in receive()
    sent_at = time.monotonic()
    asyncio.run(layer.group_send("run.1", {"type": "run.events", "events": [{"seq": 1}]}))  # the worker's loop
    receiver.join(10)
    assert got["message"] == {"type": "run.events", "events": [{"seq": 1}]}
    assert got["at"] - sent_at < 1.0  # (a plain InMemoryChannelLayer waits for the 5 s timeout here)
