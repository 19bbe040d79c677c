"""Pure scheduling logic: /remind parsing, triggers across DST, check decisions, wording."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from assistant.scheduler.checks import ALERT, OK, decide
from assistant.scheduler.parse import parse_when
from assistant.scheduler.timing import build_trigger, catch_up, fire_after, first_fire, next_fire
from assistant.scheduler.types import (
    At,
    Cron,
    Every,
    cron_for_apscheduler,
    describe_schedule,
    duration,
    is_dst_repeat,
)

BERLIN = ZoneInfo("Europe/Berlin")
# Saturday 2026-03-28 10:15 in Berlin; clocks go forward the next night (02:00 → 03:00).
NOW = datetime(2026, 3, 28, 10, 15, tzinfo=BERLIN)


def real(later: datetime, earlier: datetime) -> timedelta:
    """Elapsed time. (Subtracting two datetimes of the same zone gives wall-clock time.)"""
    return later.astimezone(UTC) - earlier.astimezone(UTC)


def at(*args: int) -> At:
    return At(time=datetime(*args, tzinfo=BERLIN))


@pytest.mark.parametrize(
    ("text", "schedule", "rest"),
    [
        ("10m stretch", at(2026, 3, 28, 10, 25), "stretch"),
        ("2h check the oven", at(2026, 3, 28, 12, 15), "check the oven"),
        ("1h30m to stretch", at(2026, 3, 28, 11, 45), "stretch"),
        ("in 20 minutes tea", at(2026, 3, 28, 10, 35), "tea"),
        ("in 1 hour and 30 minutes call back", at(2026, 3, 28, 11, 45), "call back"),
        ("45s boil", At(time=NOW + timedelta(seconds=45)), "boil"),
        ("tomorrow 9:00 call Anna", at(2026, 3, 29, 9, 0), "call Anna"),
        ("Tomorrow at 9am call", at(2026, 3, 29, 9, 0), "call"),
        ("today 18:30 dinner", at(2026, 3, 28, 18, 30), "dinner"),
        ("9:00 stand-up", at(2026, 3, 29, 9, 0), "stand-up"),  # 9:00 has passed today
        ("11:00 coffee", at(2026, 3, 28, 11, 0), "coffee"),
        ("at 9pm news", at(2026, 3, 28, 21, 0), "news"),
        ("2026-12-01 08:00 renew the domain", at(2026, 12, 1, 8, 0), "renew the domain"),
        ("2026-12-01T08:00 renew", at(2026, 12, 1, 8, 0), "renew"),
        ("every 2h drink water", Every(seconds=7200), "drink water"),
        ("every 30 minutes stretch", Every(seconds=1800), "stretch"),
        ("every day 9:00 stand-up", Cron(expr="0 9 * * *"), "stand-up"),
        ("daily at 7:30 run", Cron(expr="30 7 * * *"), "run"),
        ("weekdays 8:30 check backups", Cron(expr="30 8 * * 1-5"), "check backups"),
        ("every weekday at 8:30 coffee", Cron(expr="30 8 * * 1-5"), "coffee"),
        ("every monday 9:00 plan the week", Cron(expr="0 9 * * 1"), "plan the week"),
        ("every sunday 20:00 review", Cron(expr="0 20 * * 0"), "review"),
        ("10分钟后 喝水", at(2026, 3, 28, 10, 25), "喝水"),
        ("2小时后 看烤箱", at(2026, 3, 28, 12, 15), "看烤箱"),
        ("明天 9:00 开会", at(2026, 3, 29, 9, 0), "开会"),
        ("明天9点开会", at(2026, 3, 29, 9, 0), "开会"),
        ("明天下午3点半 接孩子", at(2026, 3, 29, 15, 30), "接孩子"),
        ("今天 18:30 吃饭", at(2026, 3, 28, 18, 30), "吃饭"),
        ("每天 9:00 站会", Cron(expr="0 9 * * *"), "站会"),
        ("工作日 8:30 检查备份", Cron(expr="30 8 * * 1-5"), "检查备份"),
        ("每周一 9:00 计划", Cron(expr="0 9 * * 1"), "计划"),
        ("每2小时 喝水", Every(seconds=7200), "喝水"),
    ],
)
def test_remind_parsing(text, schedule, rest):
    assert parse_when(text, NOW) == (schedule, rest)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon do it", "I could not tell when"),
        ("2 mice", "I could not tell when"),
        ("10m", "What should I remind you of?"),
        ("today 9:00 too late", "09:00 today has already passed"),
        ("2020-01-01 08:00 old", "is in the past"),
        ("25:00 nothing", "not a time of day"),
        ("13pm lunch", "is not a time"),
    ],
)
def test_remind_parsing_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_when(text, NOW)


def test_relative_times_count_real_time_across_dst():
    # 01:30 on the night clocks go forward: two real hours later is 04:30 local, not 03:30
    before = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)
    schedule, _ = parse_when("2h wake up", before)
    assert isinstance(schedule, At)
    assert real(schedule.time, before) == timedelta(hours=2)
    assert schedule.time.astimezone(BERLIN).hour == 4


def fires(schedule, start: datetime, count: int) -> list[datetime]:
    """Successive fire times as APScheduler computes them (previous fire, then now)."""
    trigger = build_trigger(schedule, BERLIN)
    out, previous, now = [], None, start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        out.append(fire)
        previous, now = fire, fire.astimezone(UTC) + timedelta(seconds=1)
    return out


def test_daily_cron_keeps_local_time_across_both_dst_changes():
    spring = fires(Cron(expr="0 9 * * *"), NOW, 2)
    assert [f.astimezone(BERLIN).hour for f in spring] == [9, 9]
    assert real(spring[1], spring[0]) == timedelta(hours=24)
    assert real(spring[0], datetime(2026, 3, 28, 9, tzinfo=BERLIN)) == timedelta(hours=23)
    autumn = fires(Cron(expr="0 9 * * *"), datetime(2026, 10, 24, 10, tzinfo=BERLIN), 2)
    assert [f.astimezone(BERLIN).hour for f in autumn] == [9, 9]
    assert real(autumn[0], datetime(2026, 10, 24, 9, tzinfo=BERLIN)) == timedelta(hours=25)


def test_cron_in_a_skipped_or_repeated_hour_runs_once():
    # spring: 02:30 does not exist on March 29; the job runs once that night
    spring = fires(Cron(expr="30 2 * * *"), NOW, 2)
    assert [f.astimezone(UTC).astimezone(BERLIN).isoformat() for f in spring] == [
        "2026-03-29T03:30:00+02:00",  # as soon as the skipped hour is over
        "2026-03-30T02:30:00+02:00",
    ]
    # autumn: APScheduler offers 02:30 twice on October 25; the second is a DST repeat
    autumn = fires(Cron(expr="30 2 * * *"), datetime(2026, 10, 24, 10, tzinfo=BERLIN), 3)
    assert real(autumn[1], autumn[0]) == timedelta(hours=1)
    repeats = [
        is_dst_repeat(Cron(expr="30 2 * * *"), "Europe/Berlin", a.timestamp(), b.timestamp())
        for a, b in itertools.pairwise(autumn)
    ]
    assert repeats == [True, False]
    # a half-hourly job follows real time through the repeated hour
    half = fires(Cron(expr="*/30 * * * *"), datetime(2026, 10, 25, 1, 50, tzinfo=BERLIN), 4)
    assert not any(
        is_dst_repeat(Cron(expr="*/30 * * * *"), "Europe/Berlin", a.timestamp(), b.timestamp())
        for a, b in itertools.pairwise(half)
    )


def test_interval_counts_real_time_across_dst():
    start = datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN)
    hourly = fires(Every(seconds=3600, start=start), start + timedelta(minutes=1), 2)
    assert [f.astimezone(BERLIN).hour for f in hourly] == [1, 3]  # 02:00 does not exist
    assert real(hourly[1], hourly[0]) == timedelta(hours=1)


@pytest.mark.parametrize(
    ("crontab", "apscheduler"),
    [
        ("30 8 * * 1-5", "30 8 * * mon-fri"),
        ("0 9 * * 0", "0 9 * * sun"),
        ("0 9 * * 7", "0 9 * * sun"),
        ("0 9 * * 0,6", "0 9 * * sun,sat"),
        ("*/5 * * * *", "*/5 * * * *"),
        ("0 9 * * mon", "0 9 * * mon"),
    ],
)
def test_crontab_weekday_numbers_mean_what_cron_means(crontab, apscheduler):
    assert cron_for_apscheduler(crontab) == apscheduler


def test_weekday_cron_skips_the_weekend():
    friday = datetime(2026, 3, 27, 10, tzinfo=BERLIN)
    assert next_fire(Cron(expr="0 9 * * 1-5"), BERLIN, friday) == datetime(
        2026, 3, 30, 9, tzinfo=BERLIN
    )


def walk(schedule, first_due: float, now: float) -> tuple[float, float | None]:
    """catch_up the slow way: one run after another."""
    due = first_due
    while (following := fire_after(schedule, BERLIN, due)) is not None and following <= now:
        due = following
    return due, following


@pytest.mark.parametrize(
    ("schedule", "gap_days"),
    [
        (Cron(expr="* * * * *"), 0.01),
        (Cron(expr="* * * * *"), 3),  # 4320 missed runs: found by looking back, not walking
        (Cron(expr="*/7 9-17 * * 1-5"), 12),
        (Cron(expr="30 2 * * *"), 45),  # across the spring DST change
        (Cron(expr="0 0 1 * *"), 70),
        (Cron(expr="0 9 29 2 *"), 500),  # leap days only: nothing in the last 400 days
        (Every(seconds=90, start=datetime(2026, 3, 1, tzinfo=BERLIN)), 40),
    ],
)
def test_missed_runs_coalesce_into_the_last_one_due(schedule, gap_days):
    first_due = first_fire(schedule, BERLIN, datetime(2026, 3, 1, 0, 1, tzinfo=BERLIN).timestamp())
    now = first_due + gap_days * 86400 + 17
    due, following = catch_up(schedule, BERLIN, first_due, now)
    assert (due, following) == walk(schedule, first_due, now)
    assert first_due <= due <= now < following


def test_a_new_interval_job_first_runs_one_interval_later():
    now = NOW.timestamp()
    assert first_fire(Every(seconds=60, start=NOW), BERLIN, now) == now + 60
    assert first_fire(Every(seconds=60, start=NOW), BERLIN, now + 61) == now + 120
    assert first_fire(at(2026, 12, 1, 8, 0), BERLIN, now) == at(2026, 12, 1, 8, 0).time.timestamp()
    assert fire_after(at(2026, 12, 1, 8, 0), BERLIN, now) is None


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        (Cron(expr="0 9 * * *"), "every day at 09:00 (Europe/Berlin)"),
        (Cron(expr="30 8 * * 1-5"), "weekdays at 08:30 (Europe/Berlin)"),
        (Cron(expr="0 9 * * 1"), "every Monday at 09:00 (Europe/Berlin)"),
        (Cron(expr="*/5 * * * *"), "cron '*/5 * * * *' (Europe/Berlin)"),
        (Every(seconds=5400), "every 1h30m"),
        (at(2026, 12, 1, 8, 0), "once at 2026-12-01 08:00 (Europe/Berlin)"),
    ],
)
def test_schedules_are_described_in_words(schedule, text):
    assert describe_schedule(schedule, "Europe/Berlin") == text


def test_durations():
    assert [duration(s) for s in (0.5, 45, 60, 5400, 90061)] == [
        "0.5s",
        "45s",
        "1m",
        "1h30m",
        "1d1h1m1s",
    ]


@pytest.mark.parametrize(
    ("told", "failing", "last_notice", "now", "notify", "state"),
    [
        (OK, False, None, 100, False, OK),  # healthy: silence
        (OK, True, None, 100, True, ALERT),  # ok → alert
        (ALERT, True, 100, 5000, False, ALERT),  # still failing: silence, however long
        (ALERT, False, 100, 5000, True, OK),  # alert → ok
        (ALERT, False, 100, 200, False, ALERT),  # recovered within the cooldown: wait
        (OK, True, 100, 200, False, OK),  # flapping back within the cooldown: wait
        (OK, True, 100, 700, True, ALERT),  # cooldown over and still failing: say so
    ],
)
def test_checks_speak_only_on_a_change_of_state(told, failing, last_notice, now, notify, state):
    decision = decide(told, failing, last_notice, now, cooldown=600)
    assert (decision.notify, decision.state) == (notify, state)
