"""Worker-side background duties: the sweeper thread (every worker runs one; they agree via
conditional UPDATEs), and the embedded worker that runs inside the web process."""

from __future__ import annotations

import logging
import socket
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)
_stop = threading.Event()


def sweeper_loop(interval: float) -> None:
    from .services import runs_sweep

    while not _stop.wait(interval):
        try:
            close_old_connections()
            runs_sweep()
        except Exception:
            log.exception("sweep failed")


def start_sweeper() -> threading.Thread:
    _stop.clear()
    thread = threading.Thread(target=sweeper_loop, args=(settings.KAIZEN_SWEEP_S,), name="kaizen-sweeper", daemon=True)
    thread.start()
    return thread


@worker_ready.connect
def _on_worker_ready(**_kwargs) -> None:
    if settings.KAIZEN_SWEEP_S > 0:
        start_sweeper()


@worker_shutdown.connect
def _on_worker_shutdown(**_kwargs) -> None:
    _stop.set()


def start_embedded_worker() -> threading.Thread:
    """A Celery worker on threads inside this process, consuming the in-process memory broker."""
    from kaizen_web.celery import app

    def run() -> None:
        worker = app.Worker(pool="threads", concurrency=settings.KAIZEN_EMBEDDED_WORKER_THREADS,
                            loglevel="WARNING", without_heartbeat=True, without_mingle=True,
                            without_gossip=True, hostname=f"embedded@{socket.gethostname()}")
        worker.start()

    thread = threading.Thread(target=run, name="kaizen-embedded-worker", daemon=True)
    thread.start()
    return thread
