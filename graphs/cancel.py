"""Cancel by push: a cancel request reaches the worker running the run within milliseconds.

The web process announces it after the request is committed (``Run.cancel_requested``); the
worker running the run reads that flag at once and stops its engine (the announcement only says
"look now": the flag in the database is what cancels). Distributed: one Redis PUBLISH on a channel that
every worker process subscribes to once (not one subscription per run). Embedded: the worker is
in this process, so the announcement goes straight to its run loop. The database flag stays the
truth, and the run's watcher still reads it every ``KAIZEN_CANCEL_POLL_S`` as a slow safety net
(a worker that was reconnecting to Redis at that moment misses the message, not the cancel).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from django.conf import settings

log = logging.getLogger(__name__)


def channel() -> str:
    """Redis pub/sub channels ignore the database number: name the deployment's database in it,
    so that two deployments (or test sessions) sharing one Redis never hear each other's cancels."""
    db = settings.DATABASES["default"]
    return f"kaizen:run-cancel:{db.get('HOST') or ''}:{db.get('PORT') or ''}:{db.get('NAME')}"

_publisher = None
_publisher_lock = threading.Lock()
_here: list[Callable[[int], None]] = []  # embedded: the worker of this process (graphs/runner/execution.py)


def listen_here(on_cancel: Callable[[int], None]) -> None:
    """Embedded mode: announcements go straight to ``on_cancel`` (the worker in this process)."""
    _here[:] = [on_cancel]


def announce(run_id: int) -> None:
    """Tell whichever worker runs ``run_id`` to cancel it now (best effort; never raises)."""
    try:
        if settings.REDIS_URL:
            global _publisher
            with _publisher_lock:
                if _publisher is None:
                    import redis

                    _publisher = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
            _publisher.publish(channel(), str(run_id))
        else:
            for on_cancel in _here:
                on_cancel(run_id)
    except Exception:
        log.warning("could not announce the cancel of run %s; its worker's poll will see it", run_id, exc_info=True)


async def listen(on_cancel: Callable[[int], None]) -> None:
    """The worker process's subscriber (a task on its run loop, for its whole life)."""
    import redis.asyncio as aioredis

    while True:
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=None)
        try:
            async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(channel())
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        try:
                            on_cancel(int(message["data"]))
                        except ValueError:
                            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis restarted: subscribe again
            log.warning("cancel subscription lost (%s); subscribing again", exc)
            await asyncio.sleep(1)
        finally:
            await client.aclose()
