"""Group commit: one thread per process writes the pending events and checkpoints of every run
in the process, many runs per transaction.

A worker running fifty runs would otherwise commit hundreds of tiny transactions a second from
fifty threads; here they share commits, and each run's own order is kept because a run
submits its next batch only after the previous one is written.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from audit.services import record_runs_events

from .models import Checkpoint, NodeState, RunEvent

log = logging.getLogger(__name__)
MAX_JOBS_PER_COMMIT = 256
IDLE_CLOSE_S = 2.0  # an idle writer gives its database connection back


@dataclass
class _Job:
    run_id: int
    events: list[RunEvent]
    states: dict[str, dict[str, Any]]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


def _resolve(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class GroupCommitWriter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.commits = 0

    def submit(self, run_id: int, events: list[RunEvent], states: dict[str, dict[str, Any]]) -> asyncio.Future[None]:
        """Queue one run's batch; the future resolves once it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._ensure_thread()
        self._queue.put(_Job(run_id, events, states, loop, future))
        return future

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="kaizen-group-commit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                jobs = [self._queue.get(timeout=IDLE_CLOSE_S)]
            except queue.Empty:
                connection.close()
                continue
            while len(jobs) < MAX_JOBS_PER_COMMIT:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            error: BaseException | None = None
            try:
                # The writer owns its connection: kept while busy, closed on error or when idle
                # (close_old_connections would reconnect per batch with CONN_MAX_AGE=0).
                self._write(jobs)
                self.commits += 1
            except BaseException as exc:  # reported to every waiting run; the thread lives on
                log.exception("group commit of %d batches failed", len(jobs))
                error = exc
                connection.close()
            for job in jobs:
                try:
                    job.loop.call_soon_threadsafe(_resolve, job.future, error)
                except RuntimeError:
                    pass  # that run's event loop is gone (its worker was stopped)

    @staticmethod
    def _write(jobs: list[_Job]) -> None:
        events_by_run: dict[int, list[RunEvent]] = defaultdict(list)
        latest: dict[tuple[int, str], dict[str, Any]] = {}
        history: list[Checkpoint] = []
        for job in jobs:
            events_by_run[job.run_id].extend(job.events)
            for node_id, state in job.states.items():
                latest[(job.run_id, node_id)] = state  # one upsert per row and commit: the newest
                # History keeps node-level checkpoints; mid-node journal saves only update NodeState.
                if state["status"] != "running":
                    history.append(Checkpoint(run_id=job.run_id, node_id=node_id, status=state["status"], data=state))
        with transaction.atomic():
            events = [ev for evs in events_by_run.values() for ev in evs]
            if events:
                RunEvent.objects.bulk_create(events)
                record_runs_events(events_by_run)  # the audit copy, in this same transaction
            if latest:
                NodeState.objects.bulk_create(
                    [NodeState(run_id=r, node_id=n, status=s["status"], data=s) for (r, n), s in latest.items()],
                    update_conflicts=True, unique_fields=["run", "node_id"], update_fields=["status", "data", "updated_at"],
                )
            if history:
                Checkpoint.objects.bulk_create(history)


WRITER = GroupCommitWriter()
