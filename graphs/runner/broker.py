"""The embedded default's Celery broker: kombu's in-memory transport, woken instead of polling.

kombu's virtual transports find a queue empty, sleep ``polling_interval`` and look again. In
the embedded mode (web and worker threads in one process) that is either a delivery delay (the
default interval is 1 s) or a busy loop (at 5 ms it cost ~5 % of a loaded process). Here a
drain that finds nothing waits on a condition that every put, ack and reject notifies: a message
is taken the moment it is sent, and an idle worker sleeps. Every change bumps a generation
counter read before looking, so a put that lands between the look and the wait is not missed;
``polling_interval`` stays as a safety net only.
"""

from __future__ import annotations

import threading
from queue import Empty
from time import monotonic

from kombu.transport import memory

_changed = threading.Condition()
_generation = 0


def _notify() -> None:
    global _generation
    with _changed:
        _generation += 1
        _changed.notify_all()


class Channel(memory.Channel):
    def _put(self, queue, message, **kwargs):
        super()._put(queue, message, **kwargs)
        _notify()

    def _put_fanout(self, exchange, message, routing_key=None, **kwargs):
        super()._put_fanout(exchange, message, routing_key, **kwargs)
        _notify()

    def basic_ack(self, delivery_tag, multiple=False):  # a prefetch slot is free again
        super().basic_ack(delivery_tag, multiple)
        _notify()

    def basic_reject(self, delivery_tag, requeue=False):
        super().basic_reject(delivery_tag, requeue)
        _notify()


class Transport(memory.Transport):
    Channel = Channel
    polling_interval = 1.0  # (only if a wake-up were ever missed)

    def drain_events(self, connection, timeout=None):
        started = monotonic()
        while True:
            with _changed:
                seen = _generation
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                pass
            left = None if timeout is None else timeout - (monotonic() - started)
            if left is not None and left <= 0:
                raise TimeoutError()  # (socket.timeout, as kombu raises it)
            with _changed:
                _changed.wait_for(lambda: _generation != seen,  # noqa: B023 (called at once)
                                  self.polling_interval if left is None else min(left, self.polling_interval))
