"""Celery beat for schedules: django-celery-beat's DatabaseScheduler (schedules are rows; every
beat process reads the same ones), with two additions for our own entries:

* each message carries ``sent_at`` (evaluated when beat sends it), from which the task derives the
  firing it stands for (triggers/timing.py ``firing_for``): messages from several beat processes
  for one firing name the same firing, and the unique (schedule, fire_at) row starts one run;
* a first schedule made while beat runs is noticed at once (see ``Scheduler.setup_schedule``);
* an interval entry's ``last_run_at`` is set to the firing time, not to the moment beat woke, so
  firings stay on ``anchor + k * interval`` instead of drifting later by beat's latency each time.

Distributed setup: run ``celery -A kaizen_web beat`` (this scheduler is the app's default). The
embedded default (no REDIS_URL) runs it on a thread of the in-process worker: nothing else to start.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import timedelta
from typing import Any

from celery.beat import BeatLazyFunc
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django_celery_beat.models import PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry

log = logging.getLogger(__name__)
FIRE_TASK = "triggers.schedule_fire"


class Entry(ModelEntry):
    def __init__(self, model, app=None):
        super().__init__(model, app=app)
        if self.task == FIRE_TASK:
            self.kwargs = {**self.kwargs, "sent_at": BeatLazyFunc(time.time)}

    def __next__(self):
        entry = super().__next__()
        interval = getattr(self.model.interval, "every", None) if self.model.interval_id else None
        start = self.model.start_time
        if self.task == FIRE_TASK and interval and start is not None:
            now = entry.model.last_run_at
            step = timedelta(seconds=interval * _PERIOD_S.get(self.model.interval.period, 1))
            if now >= start:
                on_grid = start + math.floor((now - start) / step) * step
                entry.model.last_run_at = entry.last_run_at = on_grid
        return entry


_PERIOD_S = {"microseconds": 1e-6, "seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


class Scheduler(DatabaseScheduler):
    Entry = Entry

    def setup_schedule(self):
        # DatabaseScheduler sees a change only against a stored timestamp (`ts > (last or ts)`):
        # with none yet, the first schedule ever made would wait for its 5-minute full sync.
        if PeriodicTasks.last_change() is None:
            PeriodicTasks.update_changed()
        super().setup_schedule()


_beat: Any = None  # (celery.beat's _Threaded)
_beat_lock = threading.Lock()


def start_embedded_beat():
    """Beat on a thread of this process (the embedded default's in-process worker)."""
    global _beat
    from celery.beat import EmbeddedService

    from kaizen_web.celery import app

    with _beat_lock:
        if _beat is None:
            _beat = EmbeddedService(app, thread=True, scheduler_cls=f"{__name__}:Scheduler",
                                    max_interval=settings.KAIZEN_BEAT_MAX_INTERVAL_S)
            _beat.start()
            log.info("beat started in this process (embedded mode)")
    return _beat


@worker_ready.connect
def _on_worker_ready(**_kwargs) -> None:
    # Only in the embedded default: there the in-process worker is the only worker, and the
    # memory broker cannot be reached from a separate beat process.
    if settings.EMBEDDED and settings.KAIZEN_EMBEDDED_BEAT:
        start_embedded_beat()


@worker_shutdown.connect
def _on_worker_shutdown(**_kwargs) -> None:
    global _beat
    with _beat_lock:
        if _beat is not None:
            _beat.service.stop(wait=False)  # (its loop ends at its next wake-up)
            _beat = None
