"""Run events to the run's channel group, many runs per Redis round trip (the distributed mode).

A run's committed batch of events goes to its channel group (the run page's websocket, a waiting
``?wait`` request) as one message. Through channels_redis's pub/sub layer that is one PUBLISH per
batch, each awaited on the run loop behind the layer's one connection lock, and redis-py's
asyncio client costs as much CPU per command as the rest of a short run's event handling. Here a
thread of the process pipelines every batch queued meanwhile (any number of runs) in one round
trip, with the layer's own channel names and serialization, so subscribers cannot tell the
difference. The order of a run's batches is kept (one queue, one thread, in order of commit).

Used when the channel layer is channels_redis's pub/sub layer on one Redis host (settings,
distributed mode); otherwise (the embedded in-memory layer, a sharded layer) the recorder sends
through the layer as before. Publishing stays best effort: the database has every event, and
whoever streams them fills gaps from it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from ..events import run_group, run_messages

log = logging.getLogger(__name__)
MAX_ITEMS_PER_ROUND_TRIP = 512


@dataclass
class _Item:
    run_id: int
    events: list[Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    message: dict[str, Any] | None = None  # (instead of events: one message as it is, to the run's group)


class PipelinedPublisher:
    def __init__(self, address: str, prefix: str, serialize: Any) -> None:
        self.address, self.prefix, self.serialize = address, prefix, serialize
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._client: Any = None
        self.round_trips = 0

    def publish(self, run_id: int, events: list[Any]) -> asyncio.Future[None]:
        """Queue one run's committed events; the future resolves once they were sent (or failed to be)."""
        return self._put(run_id, events, None)

    def send(self, run_id: int, message: dict[str, Any]) -> asyncio.Future[None]:
        """Queue one message for the run's group as it is (streamed tokens: token_relay.py)."""
        return self._put(run_id, [], message)

    def _put(self, run_id: int, events: list[Any], message: dict[str, Any] | None) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._ensure_thread()
        self._queue.put(_Item(run_id, events, loop, future, message))
        return future

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="kaizen-publish", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < MAX_ITEMS_PER_ROUND_TRIP:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._send(items)
            for item in items:
                try:
                    item.loop.call_soon_threadsafe(_done, item.future)
                except RuntimeError:
                    pass  # that run's loop is gone

    def _send(self, items: list[_Item]) -> None:
        try:
            if self._client is None:
                import redis

                # (timeouts: a Redis that stopped answering must not hold the runs' ends for long)
                self._client = redis.Redis.from_url(self.address, socket_connect_timeout=2, socket_timeout=5)
            pipe = self._client.pipeline(transaction=False)
            for item in items:
                messages = run_messages(item.run_id, item.events) if item.message is None else [
                    (run_group(item.run_id), item.message)]
                for group, message in messages:
                    pipe.publish(f"{self.prefix}__group__{group}", self.serialize(message))
            pipe.execute()
            self.round_trips += 1
        except Exception:  # the stream is best effort: the database has every event
            log.warning("publishing the events of %d batches failed", len(items), exc_info=True)
            client, self._client = self._client, None
            if client is not None:
                try:
                    client.close()
                except Exception:
                    pass


def _done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_publisher: PipelinedPublisher | None = None
_publisher_for: Any = None


def publisher_for(layer: Any) -> PipelinedPublisher | None:
    """The process's pipelined publisher for ``layer``, if it is channels_redis's pub/sub layer
    on one Redis host (as settings configure it in the distributed mode); else None."""
    global _publisher, _publisher_for
    if layer is None:
        return None
    if _publisher_for is layer:
        return _publisher
    publisher = None
    try:
        from channels_redis.pubsub import RedisPubSubChannelLayer
    except ImportError:  # pragma: no cover  (channels_redis is a dependency)
        RedisPubSubChannelLayer = None  # noqa: N806
    config: dict[str, Any] = dict(settings.CHANNEL_LAYERS.get("default", {}))
    hosts = config.get("CONFIG", {}).get("hosts") or []
    if RedisPubSubChannelLayer is not None and isinstance(layer, RedisPubSubChannelLayer) and len(hosts) == 1:
        host = hosts[0]
        address = host.get("address") if isinstance(host, dict) else host
        if isinstance(address, str):
            publisher = PipelinedPublisher(address, config["CONFIG"].get("prefix", "asgi"), layer.serialize)
    _publisher, _publisher_for = publisher, layer
    return publisher
