"""Celery: beat's message for one schedule firing (ids in, the service decides)."""

from __future__ import annotations

from celery import shared_task

from .beat import FIRE_TASK
from .services import schedule_fire


@shared_task(ignore_result=True, name=FIRE_TASK)
def schedule_fire_task(schedule_id: int, sent_at: float | None = None) -> str:
    """Start the schedule's published version for the firing this message stands for (at most
    once per firing: see services.schedule_fire)."""
    return schedule_fire(schedule_id=schedule_id, sent_at=sent_at)
