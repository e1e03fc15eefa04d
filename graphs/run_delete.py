"""Deleting a run (directly, or with its graph or user) deletes its events: the one sanctioned
way through the run events' append-only trigger besides retention. Django's deletion collector
sends pre_delete for every run inside its transaction before it deletes their events, and
post_delete after the run rows are gone, so the permit covers exactly that deletion."""

from __future__ import annotations

from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from kaizen_web import append_only

from .models import Run


@receiver(pre_delete, sender=Run, dispatch_uid="run_events_permit_open")
def _open(sender, instance, using, **_kwargs) -> None:
    append_only.open_permit("run_events", using)


@receiver(post_delete, sender=Run, dispatch_uid="run_events_permit_close")
def _close(sender, instance, using, **_kwargs) -> None:
    append_only.close("run_events", using)
