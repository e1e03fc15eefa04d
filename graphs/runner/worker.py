"""Worker-side background duties: the sweeper thread (every worker runs one; they agree via
conditional UPDATEs), and the embedded worker that runs inside the web process."""

from __future__ import annotations

import logging
import socket
import threading

from celery.signals import worker_init, worker_ready, worker_shutdown, worker_shutting_down
from django.conf import settings
from django.db import close_old_connections
from django.db.backends.signals import connection_created

from kaizen_web.heap import freeze_startup_heap

log = logging.getLogger(__name__)
_stop = threading.Event()


def sweeper_loop(interval: float) -> None:
    from ..human import human_timeouts
    from ..services import runs_sweep

    while not _stop.wait(interval):
        try:
            close_old_connections()
            runs_sweep()
            human_timeouts()  # waiting human nodes past their timeout take their default action
        except Exception:
            log.exception("sweep failed")


def memory_optimizer_loop(interval: float) -> None:
    """Tier optimisation as a periodic task of every worker process (the embedded one too): its
    batched hot-tier accesses are counted and idle sessions demoted per their own policy. Each
    process must flush its own counts, hence a loop here rather than one beat-scheduled task."""
    from ..memory_adapter import optimize_memory

    while not _stop.wait(interval):
        try:
            optimize_memory()
        except Exception:
            log.exception("memory optimisation failed")


def start_memory_optimizer() -> threading.Thread:
    _stop.clear()
    thread = threading.Thread(target=memory_optimizer_loop, args=(settings.KAIZEN_MEMORY_OPTIMIZE_S,),
                              name="kaizen-memory-optimizer", daemon=True)
    thread.start()
    return thread


def start_sweeper() -> threading.Thread:
    _stop.clear()
    thread = threading.Thread(target=sweeper_loop, args=(settings.KAIZEN_SWEEP_S,), name="kaizen-sweeper", daemon=True)
    thread.start()
    return thread


def _limit_idle_transactions(sender, connection, **_kwargs) -> None:
    if connection.vendor == "postgresql" and settings.KAIZEN_DB_IDLE_IN_TRANSACTION_S > 0:
        with connection.cursor() as cursor:
            cursor.execute("SET idle_in_transaction_session_timeout = %s",
                           [int(settings.KAIZEN_DB_IDLE_IN_TRANSACTION_S * 1000)])


@worker_init.connect
def _on_worker_init(**_kwargs) -> None:
    """A worker process frozen inside a transaction (a sweep, a memory upsert) must not stall
    the other workers on its row locks: PostgreSQL ends such a session after a few seconds."""
    connection_created.connect(_limit_idle_transactions, dispatch_uid="kaizen-idle-in-transaction")


@worker_ready.connect
def _on_worker_ready(**_kwargs) -> None:
    freeze_startup_heap()  # (start-up is over: kaizen_web/heap.py)
    if settings.KAIZEN_SWEEP_S > 0:
        start_sweeper()
    if settings.KAIZEN_MEMORY_OPTIMIZE_S > 0:
        start_memory_optimizer()


@worker_shutting_down.connect
def _on_worker_shutting_down(how: str = "", **_kwargs) -> None:
    """SIGTERM (warm shutdown): hand the runs in flight to other workers, within the grace
    period, before Celery waits for its threads. (Sent in the main thread's signal handler:
    the consumer takes no new message meanwhile.)"""
    if how != "Warm":
        return
    from .execution import hand_off_all

    try:
        hand_off_all()
    except Exception:
        log.exception("handing runs off failed; their leases will lapse")


@worker_shutdown.connect
def _on_worker_shutdown(**_kwargs) -> None:
    _stop.set()


EMBEDDED_HOSTNAME = f"embedded@{socket.gethostname()}"


def start_embedded_worker() -> threading.Thread:
    """A Celery worker on threads inside this process, consuming the in-process memory broker.
    Quiet: no banner (kaizen_serve says in one line that it started), and no multi-line warning
    about root privileges (the web process it lives in runs as the same user; kaizen_serve says so)."""
    import warnings

    from celery.exceptions import SecurityWarning

    from kaizen_web.celery import app

    warnings.filterwarnings("ignore", category=SecurityWarning)

    def run() -> None:
        worker = app.Worker(pool="threads", concurrency=settings.KAIZEN_EMBEDDED_WORKER_THREADS,
                            loglevel="WARNING", without_heartbeat=True, without_mingle=True,
                            without_gossip=True, hostname=EMBEDDED_HOSTNAME, quiet=True)
        worker.start()

    thread = threading.Thread(target=run, name="kaizen-embedded-worker", daemon=True)
    thread.start()
    return thread
