"""Relative times for the audit log: "just now", "3 min ago", "yesterday 14:02"."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, as a person would say it; a full date past a week (the exact UTC time is in
    the element's title)."""
    if moment is None:
        return ""
    now = now or timezone.now()
    seconds = (now - moment).total_seconds()
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 6 * 3600:
        hours = int(seconds // 3600)
        return f"{hours} h ago" if hours > 1 else "1 h ago"
    local = timezone.localtime(moment)
    today = timezone.localtime(now).date()
    if local.date() == today:
        return f"today {local:%H:%M}"
    if local.date() == today - timedelta(days=1):
        return f"yesterday {local:%H:%M}"
    if seconds < 7 * 86400:
        return f"{local:%a %H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"
