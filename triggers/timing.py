"""When a schedule fires: its next firing times (shown on the graph's page) and the firing a beat
message stands for (the dedupe key). Pure functions of the schedule's fields.

Cron expressions are the 5-field kind (minute hour day-of-month month day-of-week) in the
schedule's timezone. Beat fires them with Celery's ``crontab``; croniter computes the same times
here (tests/triggers/test_timing.py compares the two). Cron's classic rule for a day-of-month
and a day-of-week that are both restricted (either may match) is not Celery's (both must), so
such an expression is refused. Interval firings fall on ``anchor + k * interval_s``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from celery.schedules import crontab
from croniter import croniter

MIN_INTERVAL_S = 1
MAX_INTERVAL_S = 366 * 86400
# A beat process on another machine may run a little ahead of this one: a message sent this
# much before a firing time still stands for it.
CLOCK_SKEW_S = 1.0


class Timed(Protocol):
    kind: str
    cron: str
    interval_s: int | None
    timezone: str
    anchor: datetime


def cron_fields(expr: str) -> list[str]:
    return expr.split()


def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a cron expression this app runs, or None."""
    fields = cron_fields(expr)
    if len(fields) != 5:
        return "five fields: minute hour day-of-month month day-of-week (e.g. '0 9 * * mon-fri')"
    if fields[2] not in ("*", "?") and fields[4] not in ("*", "?"):
        return ("restrict the day of the month or the day of the week, not both (cron runs on either, "
                "Celery beat only when both match)")
    try:
        celery_crontab(expr)
    except (ValueError, TypeError) as exc:
        return f"not a cron expression: {exc}"
    if not croniter.is_valid(expr):
        return "not a cron expression"
    return None


def celery_crontab(expr: str) -> crontab:
    minute, hour, day_of_month, month_of_year, day_of_week = [f.replace("?", "*") for f in cron_fields(expr)]
    return crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
                   day_of_week=day_of_week)


def timezone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "an IANA timezone name such as UTC or Europe/Paris"
    return None if name in available_timezones() or name == "UTC" else "an IANA timezone name such as UTC or Europe/Paris"


def _cron(s: Timed, start: datetime, **kwargs) -> croniter:
    return croniter(s.cron.replace("?", "*"), start.astimezone(ZoneInfo(s.timezone)), day_or=False, **kwargs)


def next_firings(s: Timed, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` firing times strictly after ``after`` (aware datetimes, the schedule's zone)."""
    if s.kind == "cron":
        it = _cron(s, after)
        return [it.get_next(datetime) for _ in range(count)]
    step = timedelta(seconds=s.interval_s or 1)
    k = 0 if after < s.anchor else math.floor((after - s.anchor) / step) + 1
    zone = ZoneInfo(s.timezone)
    return [(s.anchor + (k + i) * step).astimezone(zone) for i in range(count)]


def firing_for(s: Timed, sent_at: datetime) -> datetime | None:
    """The firing a beat message sent at ``sent_at`` stands for: the latest firing time at or
    before it (allowing CLOCK_SKEW_S), or None if the schedule had not begun."""
    t = sent_at + timedelta(seconds=min(CLOCK_SKEW_S, _skew_cap(s)))
    if s.kind == "cron":
        return _cron(s, t + timedelta(microseconds=1)).get_prev(datetime)
    if t < s.anchor:
        return None
    step = timedelta(seconds=s.interval_s or 1)
    return s.anchor + math.floor((t - s.anchor) / step) * step


def _skew_cap(s: Timed) -> float:
    return (s.interval_s or 60) / 4 if s.kind == "interval" else 15.0


def gap_after(s: Timed, fire_at: datetime) -> float:
    """Seconds from this firing to the next one."""
    return (next_firings(s, fire_at, 1)[0] - fire_at).total_seconds()
