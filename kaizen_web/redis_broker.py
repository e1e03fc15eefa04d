"""kombu's Redis transport, publishing through one Redis client per channel instead of one per message.

kombu's ``Channel._put`` (every ``send_task``) asks ``conn_or_acquire()`` for a client, and without
one given it builds a new ``redis.Redis`` on the channel's connection pool for that one LPUSH:
redis-py's client constructor (its option parsing, callbacks, retry and event-dispatcher objects)
cost about as much CPU as the LPUSH itself, on the web process's hot path (the start of a run sends
its task). The channel keeps one client on the same pool here; the connections stay pooled as
before (a ``redis.Redis`` takes a connection from its pool per command, so sharing it between
threads is safe, as it is for the pool), and the channel's other commands are kombu's own.

Used in the distributed mode (settings.CELERY_BROKER_TRANSPORT); imports no app.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _publisher: Any = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        publisher = self._publisher
        if publisher is None or publisher.connection_pool is not self.pool:  # (a new pool after a reconnect)
            publisher = self._publisher = self._create_client()
        yield publisher

    def close(self) -> None:
        self._publisher = None
        super().close()


class Transport(kombu_redis.Transport):
    Channel = Channel
