"""A schedule deleted in any way (its graph deleted, the admin) takes its beat row with it, so that
beat stops sending messages for it."""

from __future__ import annotations

from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import Schedule


@receiver(post_delete, sender=Schedule, dispatch_uid="kaizen-schedule-beat-row")
def _delete_beat_row(sender, instance: Schedule, **_kwargs) -> None:
    if instance.periodic_task_id:
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(pk=instance.periodic_task_id).delete()
