"""Firing times: the ones shown are the ones Celery beat fires; a beat message maps to one firing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from triggers import timing


@dataclass
class S:
    kind: str = "cron"
    cron: str = ""
    interval_s: int | None = None
    timezone: str = "UTC"
    anchor: datetime = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("expr", ["*/5 * * * *", "0 9 * * mon-fri", "30 2 1 * *", "15 8,20 * jan,jul *", "0 0 * * 0",
                                  "45 23 29 2 *"])
@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/New_York"])
def test_next_firings_are_the_times_celery_beat_fires(expr, tz):
    """Celery's crontab (what beat runs) agrees with the times the page shows, over DST changes."""
    schedule = S(cron=expr, timezone=tz)
    assert timing.cron_problem(expr) is None
    zone = ZoneInfo(tz)
    start = datetime(2026, 3, 1, 0, 0, tzinfo=zone)
    shown = timing.next_firings(schedule, start, 12)
    beat = timing.celery_crontab(expr)
    beat.tz = zone
    beat.nowfun = lambda: start
    t = start
    for expected in shown:
        # crontab.remaining_delta: the next firing after last_run_at = t
        last, delta, _now = beat.remaining_delta(t, tz=zone)
        fired = last + delta
        assert fired.astimezone(UTC) == expected.astimezone(UTC), (expr, tz, t)
        t = expected


@pytest.mark.parametrize("expr,problem", [("* * *", "five fields"), ("0 9 1 * mon", "not both"), ("61 * * * *", "not a cron"),
                                          ("0 9 * * funday", "not a cron")])
def test_bad_cron_expressions_are_refused_with_a_reason(expr, problem):
    assert problem in (timing.cron_problem(expr) or "")


def test_interval_firings_fall_on_the_anchor_grid():
    s = S(kind="interval", interval_s=10)
    assert timing.next_firings(s, s.anchor - timedelta(seconds=5), 2) == [s.anchor, s.anchor + timedelta(seconds=10)]
    assert timing.next_firings(s, s.anchor, 1) == [s.anchor + timedelta(seconds=10)]
    # a message sent late, or a little early (another host's clock), stands for the nearest firing at or before it
    assert timing.firing_for(s, s.anchor + timedelta(seconds=23.7)) == s.anchor + timedelta(seconds=20)
    assert timing.firing_for(s, s.anchor + timedelta(seconds=19.5)) == s.anchor + timedelta(seconds=20)
    assert timing.firing_for(s, s.anchor - timedelta(seconds=30)) is None


def test_cron_firing_for_a_beat_message():
    s = S(cron="*/5 * * * *")
    assert timing.firing_for(s, datetime(2026, 12, 3, 5, 30, 0, 300_000, tzinfo=UTC)) == datetime(2026, 12, 3, 5, 30, tzinfo=UTC)
    assert timing.firing_for(s, datetime(2026, 12, 3, 5, 34, 58, tzinfo=UTC)) == datetime(2026, 12, 3, 5, 30, tzinfo=UTC)
    assert timing.firing_for(s, datetime(2026, 12, 3, 5, 34, 59, 200_000, tzinfo=UTC)) == datetime(2026, 12, 3, 5, 35, tzinfo=UTC)
    assert timing.firing_for(s, datetime(2026, 12, 3, 5, 29, 59, 500_000, tzinfo=UTC)) == datetime(2026, 12, 3, 5, 30, tzinfo=UTC)
    assert timing.gap_after(s, datetime(2026, 12, 3, 5, 30, tzinfo=UTC)) == 300
