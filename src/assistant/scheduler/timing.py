"""When a job fires, computed with APScheduler's public trigger classes (nothing else of it).

Times are seconds since the epoch; a trigger works in the job's zone, so "every day at 9:00"
stays at 9:00 local time across DST changes and "every 2h" counts real time. Pure functions:
the scheduler stores each job's next fire time in its row and asks here for the one after.
"""

from __future__ import annotations

from datetime import UTC, datetime
from math import ceil
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from assistant.scheduler.types import At, Cron, Every, Job, cron_for_apscheduler

# How far back to look for the last run a cron job missed before walking forward to now:
# a job every minute that missed a month is not walked through minute by minute.
_LOOKBACK = (3600.0, 86400.0, 40 * 86400.0, 400 * 86400.0)


def build_trigger(schedule: At | Every | Cron, zone: ZoneInfo) -> BaseTrigger:
    """Raises ``ValueError`` for a schedule APScheduler cannot express."""
    if isinstance(schedule, At):
        return DateTrigger(run_date=schedule.time, timezone=zone)
    if isinstance(schedule, Every):
        return IntervalTrigger(seconds=schedule.seconds, start_date=schedule.start, timezone=zone)
    return CronTrigger.from_crontab(cron_for_apscheduler(schedule.expr), timezone=zone)


def _at(seconds: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(seconds, zone)


def _seconds(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def next_fire(schedule: At | Every | Cron, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first time at or after ``after`` that ``schedule`` fires (a one-off: its time)."""
    fire: datetime | None = build_trigger(schedule, zone).get_next_fire_time(
        None, after.astimezone(UTC)
    )
    return fire


def first_fire(schedule: At | Every | Cron, zone: ZoneInfo, now: float) -> float | None:
    """A new job's first fire time: a one-off's time, an interval's first step after
    ``now`` (not ``now`` itself), a cron's first match at or after ``now``."""
    if isinstance(schedule, At):
        return schedule.time.timestamp()
    if isinstance(schedule, Every):
        start = schedule.start.timestamp() if schedule.start else now
        steps = max(1, ceil((now - start) / schedule.seconds))
        return start + steps * schedule.seconds
    return _seconds(next_fire(schedule, zone, _at(now, zone)))


def fire_after(schedule: At | Every | Cron, zone: ZoneInfo, due: float) -> float | None:
    """The fire time that follows the one due at ``due`` (None: a one-off, no more runs).

    For a cron job in the night clocks go back this can be the same wall time an hour
    later; ``types.is_dst_repeat`` tells the service to skip that run."""
    if isinstance(schedule, At):
        return None
    if isinstance(schedule, Every):
        return due + schedule.seconds
    when = _at(due, zone)
    return _seconds(build_trigger(schedule, zone).get_next_fire_time(when, when))


def catch_up(
    schedule: At | Every | Cron, zone: ZoneInfo, first_due: float, now: float
) -> tuple[float, float | None]:
    """Coalesce the runs due from ``first_due`` to ``now`` (``first_due <= now``) into one:
    the last of them, which is the one to run, and the first run after ``now``."""
    if isinstance(schedule, At):
        return first_due, None
    if isinstance(schedule, Every):
        due = first_due + (now - first_due) // schedule.seconds * schedule.seconds
        return due, due + schedule.seconds
    due = first_due
    for window in _LOOKBACK:
        if now - window <= first_due:
            break
        recent = first_fire(schedule, zone, now - window)
        if recent is not None and recent <= now:
            due = recent
            break
    while (following := fire_after(schedule, zone, due)) is not None and following <= now:
        due = following
    return due, following


def resume_fire(
    schedule: At | Every | Cron, zone: ZoneInfo, created_at: float, last_due: float | None
) -> float | None:
    """The next fire time of a job that has none stored (one of an earlier version whose old
    store is gone): the run after its last one, else its first run after it was created.
    It may be in the past: the job then catches up once, as after any downtime."""
    if isinstance(schedule, At):
        return schedule.time.timestamp()
    if last_due is not None:
        return fire_after(schedule, zone, last_due)
    return first_fire(schedule, zone, created_at)


def planned_fire(job: Job) -> float | None:
    """When ``job`` fires next: its stored time, else (not planned yet) what its schedule
    says; None for a finished job."""
    if job.status != "active":
        return None
    if job.next_fire is not None:
        return job.next_fire
    return resume_fire(job.schedule, ZoneInfo(job.timezone), job.created_at, job.last_due)
