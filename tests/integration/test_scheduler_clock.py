"""The scheduler's timer on a fake clock: the exact instant, DST in a zone, catching up once
after downtime, no double fire after a crash, and the state an earlier version left (its
APScheduler ``jobs.db``)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from assistant.scheduler.types import SCHEDULE, TASK, At, Cron, Every, Reminder
from assistant.store.schema import MIGRATIONS
from tests.helpers import FakeClock
from tests.integration.test_scheduler import (
    CREATOR,
    HERE,
    USER,
    _scheduled_messages,
    scheduler_on,
    settle,
)

BERLIN = "Europe/Berlin"


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


async def dues(h, jid: str) -> list[float]:
    """When each firing of ``jid`` that reached the inbox was due."""
    return [
        float(m.platform_id.rsplit(":", 1)[1])
        for m in await _scheduled_messages(h)
        if m.meta.get("job") == jid
    ]


async def move_to(h, clock: FakeClock, when: float) -> None:
    clock.set(when)
    await settle(h, clock)


async def test_a_cron_job_fires_at_its_instant_and_not_a_second_before(make_config, start_harness):
    clock = FakeClock(utc(2027, 1, 15, 8, 0))
    h = await start_harness(scheduler_on(make_config), clock=clock)
    job, first = await h.scheduler.create(HERE, CREATOR, Cron(expr="0 9 * * *"), Reminder(text="x"))
    assert first == datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
    await move_to(h, clock, utc(2027, 1, 15, 8, 59, 59))
    assert h.channel.texts() == []
    await move_to(h, clock, utc(2027, 1, 15, 9, 0))
    assert h.channel.texts() == ["⏰ Reminder: x"]
    assert await dues(h, job.id) == [utc(2027, 1, 15, 9, 0)]
    assert (await h.scheduler.table.get(job.id)).next_fire == utc(2027, 1, 16, 9, 0)


async def test_a_new_job_wakes_the_sleeping_timer(make_config, start_harness):
    clock = FakeClock()
    h = await start_harness(scheduler_on(make_config), clock=clock)
    await h.scheduler.create(HERE, CREATOR, Every(seconds=86400), Reminder(text="daily"))
    await settle(h, clock)  # asleep until the next look at the table, 30 s from now
    await h.scheduler.create(
        HERE,
        CREATOR,
        At(time=datetime.fromtimestamp(clock.time() + 10, UTC)),
        Reminder(text="soon"),
    )
    clock.advance(10)
    await h.channel.wait_sent(1)
    assert h.channel.texts() == ["⏰ Reminder: soon"]


async def test_daily_jobs_keep_local_time_through_both_dst_changes(make_config, start_harness):
    clock = FakeClock(utc(2026, 3, 28, 7, 0))  # 08:00 CET, the day before clocks go forward
    h = await start_harness(scheduler_on(make_config), clock=clock)
    nine, _ = await h.scheduler.create(
        HERE, CREATOR, Cron(expr="0 9 * * *"), Reminder(text="nine"), BERLIN
    )
    night, _ = await h.scheduler.create(
        HERE, CREATOR, Cron(expr="30 2 * * *"), Reminder(text="night"), BERLIN
    )
    await move_to(h, clock, utc(2026, 3, 28, 8, 0))  # 09:00 CET
    await move_to(h, clock, utc(2026, 3, 29, 1, 30))  # 02:30 does not exist: 03:30 CEST
    await move_to(h, clock, utc(2026, 3, 29, 7, 0))  # 09:00 CEST, 23 hours later
    assert await dues(h, nine.id) == [utc(2026, 3, 28, 8, 0), utc(2026, 3, 29, 7, 0)]
    assert await dues(h, night.id) == [utc(2026, 3, 29, 1, 30)]

    clock.set(utc(2026, 10, 24, 10, 0))  # autumn: 02:30 happens twice on October 25
    await settle(h, clock)
    before = len(await dues(h, night.id))
    await move_to(h, clock, utc(2026, 10, 25, 0, 30))  # 02:30 CEST
    await move_to(h, clock, utc(2026, 10, 25, 1, 30))  # 02:30 CET: the repeat, skipped
    await move_to(h, clock, utc(2026, 10, 26, 1, 30))  # the next night, 02:30 CET
    assert (await dues(h, night.id))[before:] == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]


async def test_a_restart_after_days_catches_up_once_with_the_last_run(make_config, start_harness):
    clock = FakeClock(utc(2027, 3, 1, 12, 0))
    config = scheduler_on(make_config, misfire_grace=10**6)
    h = await start_harness(config, clock=clock)
    job, _ = await h.scheduler.create(HERE, CREATOR, Cron(expr="0 9 * * *"), Reminder(text="x"))
    await h.close()
    clock.set(utc(2027, 3, 4, 10, 0))  # down for three days: runs on the 2nd, 3rd, 4th missed

    h2 = await start_harness(config, clock=clock)
    await h2.channel.wait_sent(1)
    await settle(h2, clock)
    assert h2.channel.texts() == ["⏰ Reminder: x (late: was due at 2027-03-04 09:00)"]
    assert await dues(h2, job.id) == [utc(2027, 3, 4, 9, 0)]
    assert (await h2.scheduler.table.get(job.id)).next_fire == utc(2027, 3, 5, 9, 0)


async def test_a_firing_cut_off_by_a_crash_is_not_delivered_twice(make_config, start_harness):
    """A crash after the router took a firing and before its run was recorded: the job still
    holds the old fire time and fires again at start, with the same id; the inbox drops it."""
    clock = FakeClock()
    config = scheduler_on(make_config)
    h = await start_harness(config, clock=clock)
    job, first = await h.scheduler.create(HERE, CREATOR, Every(seconds=3600), Reminder(text="x"))
    await move_to(h, clock, first.timestamp())
    assert h.channel.texts() == ["⏰ Reminder: x"]
    await h.close()
    state = sqlite3.connect(make_config().assistant.state_dir / "state.db")
    with state:  # as if the process died before recording the run
        state.execute(
            "UPDATE jobs SET next_fire = ?, runs = 0, last_due = NULL WHERE id = ?",
            (first.timestamp(), job.id),
        )
    state.close()

    h2 = await start_harness(config, clock=clock)
    await settle(h2, clock)
    assert h2.channel.texts() == []  # the same firing: answered once, by the first run
    stored = await h2.scheduler.table.get(job.id)
    assert (stored.runs, stored.next_fire) == (1, first.timestamp() + 3600)
    await move_to(h2, clock, first.timestamp() + 3600)
    assert h2.channel.texts() == ["⏰ Reminder: x"]


def _state_of_an_earlier_version(state_dir, rows) -> None:
    """state.db at schema 8 (before ``jobs.next_fire``) with ``rows`` in its jobs table."""
    state_dir.mkdir(parents=True)
    conn = sqlite3.connect(state_dir / "state.db", isolation_level=None)
    for version, script in enumerate(MIGRATIONS[:8], start=1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={version};\nCOMMIT;")
    for job_id_, schedule, created, last_due in rows:
        conn.execute(
            "INSERT INTO jobs (id, channel, chat_id, user_id, user_name, timezone, schedule, "
            "task, created_at, updated_at, last_due) VALUES (?, ?, ?, ?, ?, 'UTC', ?, ?, ?, ?, ?)",
            (
                job_id_,
                HERE.channel,
                HERE.chat_id,
                CREATOR.user_id,
                CREATOR.name,
                SCHEDULE.dump_json(schedule).decode(),
                TASK.dump_json(Reminder(text=job_id_)).decode(),
                created,
                created,
                last_due,
            ),
        )
    conn.close()


async def test_an_earlier_versions_job_store_is_taken_over_and_removed(make_config, start_harness):
    clock = FakeClock(utc(2027, 1, 15, 8, 0))
    config = scheduler_on(make_config)
    state_dir = config.assistant.state_dir
    hourly = Every(seconds=3600, start=datetime(2027, 1, 15, 6, 0, tzinfo=UTC))
    _state_of_an_earlier_version(
        state_dir,
        [
            ("aaaaaa", hourly, utc(2027, 1, 15, 6, 0), utc(2027, 1, 15, 7, 0)),
            ("bbbbbb", Cron(expr="15 8 * * *"), utc(2027, 1, 14, 12, 0), None),
        ],
    )
    legacy = sqlite3.connect(state_dir / "jobs.db")  # APScheduler's SQLAlchemy job store
    legacy.execute(
        "CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY, next_run_time FLOAT, "
        "job_state BLOB NOT NULL)"
    )
    legacy.execute(  # it knew better than the schedule: the 08:00 run had already been made
        "INSERT INTO apscheduler_jobs VALUES ('aaaaaa', ?, x'80')", (utc(2027, 1, 15, 9, 0),)
    )
    legacy.commit()
    legacy.close()
    (state_dir / "jobs.db.lock").write_text("")

    h = await start_harness(config, clock=clock)
    await settle(h, clock)
    assert not (state_dir / "jobs.db").exists() and not (state_dir / "jobs.db.lock").exists()
    table = h.scheduler.table
    assert (await table.get("aaaaaa")).next_fire == utc(2027, 1, 15, 9, 0)  # from jobs.db
    assert (await table.get("bbbbbb")).next_fire == utc(2027, 1, 15, 8, 15)  # from its schedule
    await move_to(h, clock, utc(2027, 1, 15, 8, 15))
    await move_to(h, clock, utc(2027, 1, 15, 9, 0))
    assert h.channel.texts() == ["⏰ Reminder: bbbbbb", "⏰ Reminder: aaaaaa"]


async def test_an_unreadable_old_job_store_is_dropped(make_config, start_harness):
    clock = FakeClock(utc(2027, 1, 15, 8, 0))
    config = scheduler_on(make_config)
    state_dir = config.assistant.state_dir
    _state_of_an_earlier_version(
        state_dir, [("cccccc", Cron(expr="30 8 * * *"), utc(2027, 1, 14, 12, 0), None)]
    )
    (state_dir / "jobs.db").write_bytes(b"not a database at all")

    h = await start_harness(config, clock=clock)
    await settle(h, clock)
    assert not (state_dir / "jobs.db").exists()
    reply = await h.ask("/jobs", user=USER)
    assert "cccccc ⏰ cccccc — every day at 08:30 (UTC); next 2027-01-15 08:30" in reply
    await move_to(h, clock, utc(2027, 1, 15, 8, 30))
    assert h.channel.texts()[-1] == "⏰ Reminder: cccccc"
