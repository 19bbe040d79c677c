"""Scheduled work through the real scheduler (one jobs table, one timer on the clock), router
and agent. Time is a FakeClock the tests move: nothing here waits for real time to pass."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import psutil
import pytest

from assistant.core.messages import ChatRef, Sender
from assistant.scheduler.types import (
    AgentJob,
    At,
    CommandCheck,
    Cron,
    Every,
    Job,
    JobRefused,
    MetricCheck,
    Reminder,
)
from tests.conftest import OWNER, USER, until
from tests.fakes.model import Reply
from tests.helpers import FakeClock

GROUPS = {"telegram": {"groups": ["g1"]}}
HERE = ChatRef("telegram", f"chat-{USER}")
CREATOR = Sender(USER, f"user{USER}")


def scheduler_on(make_config, **settings):
    return make_config(scheduler={"enabled": True, "min_interval": 0.1, **settings}, access=GROUPS)


def job_id(text: str) -> str:
    found = re.search(r"job ([0-9a-f]{6})", text)
    assert found, text
    return found.group(1)


def reminders(h) -> list[tuple[str, str]]:
    return [(m.chat.chat_id, m.text) for m in h.channel.sent if not m.text.startswith("OK, job")]


async def settle(h, clock: FakeClock) -> None:
    """Until the scheduler sleeps on the clock with nothing firing, and the router is idle."""

    async def asleep() -> bool:
        return clock.sleepers > 0 and not h.scheduler.busy

    await until(asleep)
    await h.router.wait_idle()


async def runs_of(h, jid: str) -> int:
    job = await h.scheduler.table.get(jid)
    return job.runs if job is not None else 0


async def step(h, clock: FakeClock, seconds: float, jid: str) -> None:
    """Move the clock on by ``seconds`` and wait for job ``jid``'s next run to finish."""
    before = await runs_of(h, jid)
    clock.advance(seconds)

    async def ran() -> bool:
        return await runs_of(h, jid) > before

    await until(ran)
    await settle(h, clock)


async def test_reminder_fires_in_the_chat_that_created_it(make_config, start_harness):
    clock = FakeClock()
    h = await start_harness(scheduler_on(make_config), clock=clock)
    first = job_id(await h.ask("/remind 10m stretch", user=USER))
    await h.ask("/remind 20m stand up", user=USER, chat="g1", group=True)
    await settle(h, clock)
    clock.advance(599)
    await settle(h, clock)
    assert reminders(h) == []  # a second early: nothing yet
    clock.advance(1)
    await h.channel.wait_sent(3)
    clock.advance(600)
    await h.channel.wait_sent(4)
    assert reminders(h) == [
        ("chat-1002", "⏰ Reminder: stretch"),
        ("g1", "⏰ Reminder: stand up"),
    ]
    table = h.scheduler.table

    async def done() -> bool:
        job = await table.get(first)
        return job is not None and job.status == "done"

    await until(done)
    assert (await h.ask("/jobs", user=USER)).startswith("No scheduled jobs in this chat.")


async def test_recurring_reminder_from_the_model_tool_until_cancelled(
    make_config, start_harness, fake_model
):
    clock = FakeClock()
    h = await start_harness(scheduler_on(make_config), clock=clock)
    call = {"kind": "remind", "text": "drink", "every": "2h"}
    fake_model.script.extend([Reply(tool_calls=[("schedule", call)]), Reply(text="Scheduled.")])
    assert await h.ask("remind me to drink every 2 hours", user=USER) == "Scheduled."
    created = fake_model.requests[1]["messages"][-1]["content"]
    assert created.startswith("Created job ") and "⏰ drink — every 2h; next " in created
    jid = job_id(created)
    tools = {t["function"]["name"] for t in fake_model.requests[0]["tools"]}
    assert "schedule" in tools
    for _ in range(3):
        await step(h, clock, 7200, jid)
    assert h.channel.texts()[1:] == ["⏰ Reminder: drink"] * 3
    listed = await h.ask("/jobs", user=USER)
    assert f"{jid} ⏰ drink — every 2h; next 2027-01-15 16:00" in listed
    assert await h.ask(f"/cancel {jid}", user=USER) == f"Cancelled job {jid}: ⏰ drink."
    assert jid not in await h.scheduler.next_runs()  # nothing left to fire
    clock.advance(7200)
    await settle(h, clock)
    assert h.channel.texts()[-1] == f"Cancelled job {jid}: ⏰ drink."
    assert "No scheduled jobs" in await h.ask("/jobs", user=USER)


async def test_agent_job_runs_as_a_turn_with_the_creators_current_role(
    make_config, start_harness, fake_model
):
    clock = FakeClock()
    config = scheduler_on(make_config)
    h = await start_harness(config, clock=clock)
    soon = datetime.fromtimestamp(clock.time() + 60, UTC).isoformat()
    call = {"kind": "prompt", "text": "summarize load", "at": soon}
    fake_model.script.extend([Reply(tool_calls=[("schedule", call)]), Reply(text="Will do.")])
    await h.ask("in a minute, summarize the load", user=USER)
    jid = job_id(fake_model.requests[1]["messages"][-1]["content"])
    fake_model.script.append(Reply(text="Load is 0.2."))
    clock.advance(60)
    sent = await h.channel.wait_sent(2)
    assert (sent[1].chat, sent[1].text) == (HERE, "Load is 0.2.")
    turn = fake_model.requests[2]["messages"]
    assert turn[-1] == {"role": "user", "content": f"[Scheduled job {jid}] summarize load"}
    assert "schedule" in {t["function"]["name"] for t in fake_model.requests[2]["tools"]}

    # the creator loses the schedule permission before the next job runs: it is skipped
    scheduler = h.scheduler
    later = At(time=datetime.fromtimestamp(clock.time() + 60, UTC))
    await scheduler.create(HERE, CREATOR, later, AgentJob(prompt="summarize again"))
    revoked = make_config(
        scheduler={"enabled": True, "min_interval": 0.1},
        access={**GROUPS, "permissions": {"user": ["chat", "memory"]}},
    )
    await h.assembly.reload(revoked)
    clock.advance(60)
    sent = await h.channel.wait_sent(3)
    assert sent[2].text.endswith("was skipped: your role no longer allows scheduled work.")
    assert len(fake_model.requests) == 3  # no turn ran


async def test_monitoring_alerts_only_on_a_change_of_state(make_config, start_harness, monkeypatch):
    readings = iter([10, 10, 90, 95, 97, 10, 10])
    last = {"value": 10.0}

    def virtual_memory():  # psutil is the third-party boundary
        last["value"] = float(next(readings, last["value"]))
        return SimpleNamespace(percent=last["value"])

    monkeypatch.setattr(psutil, "virtual_memory", virtual_memory)
    clock = FakeClock()
    h = await start_harness(scheduler_on(make_config, check_cooldown=0), clock=clock)
    scheduler = h.scheduler
    job, _ = await scheduler.create(
        HERE, CREATOR, Every(seconds=60), MetricCheck(metric="memory", threshold=50)
    )
    for _ in range(9):
        await step(h, clock, 60, job.id)
    assert h.channel.texts() == [
        f"🔴 Alert (check {job.id}): memory % is 90.0, above the threshold 50.",
        f"🟢 OK (check {job.id}): memory % is 10.0, within the threshold 50.",
    ]


async def test_check_cooldown_and_state_survive_a_restart(make_config, start_harness, monkeypatch):
    readings = iter([90, 10, 90, 10, 90])
    last = {"value": 90.0}

    def virtual_memory():
        last["value"] = float(next(readings, last["value"]))
        return SimpleNamespace(percent=last["value"])

    monkeypatch.setattr(psutil, "virtual_memory", virtual_memory)
    config = scheduler_on(make_config, check_cooldown=3600)
    clock = FakeClock()
    h = await start_harness(config, clock=clock)
    scheduler = h.scheduler
    job, _ = await scheduler.create(
        HERE, CREATOR, Every(seconds=60), MetricCheck(metric="memory", threshold=50)
    )
    for _ in range(6):
        await step(h, clock, 60, job.id)
    assert h.channel.texts() == [
        f"🔴 Alert (check {job.id}): memory % is 90.0, above the threshold 50."
    ]
    await h.close()

    h2 = await start_harness(config, clock=clock)  # still failing after a restart: no 2nd alert
    await settle(h2, clock)
    for _ in range(3):
        await step(h2, clock, 60, job.id)
    assert await runs_of(h2, job.id) == 9
    assert h2.channel.texts() == []
    assert (await h2.scheduler.table.get(job.id)).check_state == "alert"


async def test_due_during_downtime_fires_late_within_grace_and_is_missed_beyond(
    make_config, start_harness
):
    clock = FakeClock()
    h = await start_harness(scheduler_on(make_config), recover=False, clock=clock)
    table = h.scheduler.table
    now = clock.time()
    for jid, ago, task in (
        ("aaaaaa", 600, Reminder(text="water the plants")),
        ("bbbbbb", 7200, Reminder(text="call the bank")),
        ("cccccc", 7200, AgentJob(prompt="write the weekly report")),
    ):
        due = datetime.fromtimestamp(now - ago, UTC)
        job = Job(jid, HERE, CREATOR, "UTC", At(time=due), task, created_at=now - ago - 60)
        assert await table.insert(job)
    await h.assembly.start()
    await h.channel.wait_sent(3)
    at = {
        jid: datetime.fromtimestamp(now - ago, UTC).strftime("%Y-%m-%d %H:%M")
        for jid, ago in (("a", 600), ("b", 7200))
    }
    assert sorted(h.channel.texts()) == sorted(
        [
            f"⏰ Reminder: water the plants (late: was due at {at['a']})",
            f"Missed reminder: call the bank — it was due at {at['b']}.",
            f"Missed scheduled job cccccc (🤖 write the weekly report): it was due at {at['b']} and was not run.",
        ]
    )


async def test_jobs_persist_across_a_restart_and_missed_runs_make_one(
    make_config, start_harness, tmp_path
):
    clock = FakeClock()
    config = scheduler_on(make_config)
    h = await start_harness(config, clock=clock)
    jid = job_id(await h.ask("/remind 10m stretch", user=USER))
    every, _ = await h.scheduler.create(HERE, CREATOR, Every(seconds=60), Reminder(text="tick"))
    await h.close()
    clock.advance(330)  # downtime: five runs of "tick" are missed
    assert not (tmp_path / "state" / "jobs.db").exists()  # the jobs table is the only store

    h2 = await start_harness(config, clock=clock)
    await h2.channel.wait_sent(1)
    await settle(h2, clock)
    assert h2.channel.texts() == ["⏰ Reminder: tick"]  # five missed runs made one …
    [message] = [m for m in await _scheduled_messages(h2) if m.meta.get("job") == every.id]
    assert message.platform_id == f"job:{every.id}:{clock.time() - 30:.3f}"  # … the last one
    clock.advance(270)  # ten minutes after it was set: the reminder, and tick on time
    await h2.channel.wait_sent(3)
    await settle(h2, clock)
    assert sorted(h2.channel.texts()[1:]) == ["⏰ Reminder: stretch", "⏰ Reminder: tick"]
    assert (await h2.scheduler.table.get(jid)).status == "done"


async def _scheduled_messages(h):
    rows = await h.services.inbox._db.fetchall("SELECT payload FROM inbox ORDER BY id")
    from assistant.store.inbox import decode_message

    return [decode_message(row["payload"]) for row in rows]


async def test_a_firing_is_delivered_once_and_never_after_cancel(make_config, start_harness):
    clock = FakeClock()
    h = await start_harness(scheduler_on(make_config), clock=clock)
    scheduler = h.scheduler
    job, _ = await scheduler.create(HERE, CREATOR, Every(seconds=3600), Reminder(text="once"))
    due = clock.time() - 1
    await scheduler.fire(job.id, due)
    await scheduler.fire(job.id, due)  # the same firing again (e.g. two processes)
    await h.router.wait_idle()
    assert h.channel.texts() == ["⏰ Reminder: once"]
    await scheduler.table.finish(job.id, "cancelled")  # as `assistant jobs cancel` does
    await scheduler.fire(job.id, due + 3600)
    await h.router.wait_idle()
    assert h.channel.texts() == ["⏰ Reminder: once"]
    assert job.id not in await scheduler.next_runs()


async def test_daily_job_runs_once_in_the_hour_that_repeats_at_dst_end(make_config, start_harness):
    h = await start_harness(scheduler_on(make_config, misfire_grace=10**9), clock=FakeClock())
    scheduler = h.scheduler
    job, _ = await scheduler.create(
        HERE, CREATOR, Cron(expr="30 2 * * *"), Reminder(text="nightly"), "Europe/Berlin"
    )
    summer = datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp()  # 02:30 CEST
    winter = datetime(2026, 10, 25, 1, 30, tzinfo=UTC).timestamp()  # 02:30 CET, an hour later
    await scheduler.fire(job.id, summer)
    await scheduler.fire(job.id, winter)
    await scheduler.fire(job.id, winter + 86400)  # the next night runs again
    await h.router.wait_idle()
    assert len(h.channel.texts()) == 2


async def test_remind_jobs_and_cancel_commands(make_config, start_harness):
    clock = FakeClock()
    h = await start_harness(scheduler_on(make_config), clock=clock)
    reply = await h.ask("/remind tomorrow 9:00 call Anna", user=USER, chat="g1", group=True)
    tomorrow = (datetime.fromtimestamp(clock.time(), UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    assert f"⏰ call Anna — once at {tomorrow} 09:00 (UTC); next {tomorrow} 09:00." in reply
    jid = job_id(reply)
    assert jid in await h.ask("/jobs", user=OWNER, chat="g1", group=True)
    assert await h.ask("/cancel nope", user=USER, chat="g1", group=True) == (
        "There is no active job 'nope' here; /jobs lists this chat's jobs."
    )
    assert (await h.ask("/remind whenever", user=USER)).startswith("I could not tell when")
    assert (await h.ask("/remind", user=USER)).startswith("Usage: /remind WHEN TEXT")
    # the creator may cancel it from anywhere, e.g. their private chat
    assert await h.ask(f"/cancel {jid}", user=USER) == f"Cancelled job {jid}: ⏰ call Anna."
    assert "There is no active job" in await h.ask(f"/cancel {jid}", user=USER)


async def test_only_the_creator_or_an_admin_cancels(make_config, start_harness):
    config = make_config(
        scheduler={"enabled": True},
        access={"telegram": {"groups": ["g1"], "users": {USER: "user", "1004": "user"}}},
    )
    h = await start_harness(config)
    jid = job_id(await h.ask("/remind 2h stretch", user=USER, chat="g1", group=True))
    refused = await h.ask(f"/cancel {jid}", user="1004", chat="g1", group=True)
    assert refused == f"Job {jid} was created by someone else; only they or an admin can cancel it."
    assert (await h.ask(f"/cancel {jid}", user=OWNER, chat="g1", group=True)).startswith(
        "Cancelled"
    )


async def test_refusals_are_clear(make_config, start_harness, fake_model):
    h = await start_harness(scheduler_on(make_config, min_interval=60, max_jobs_per_user=1))
    scheduler = h.scheduler
    check = CommandCheck(host="web1", command="systemctl is-active nginx")
    for schedule, task, message in (
        (Every(seconds=60), check, "no SSH hosts are configured"),
        (Every(seconds=5), Reminder(text="x"), "The shortest allowed interval is 60 seconds."),
        (At(time=datetime(2020, 1, 1)), Reminder(text="x"), "is in the past"),
        (At(time=datetime(2099, 1, 1)), MetricCheck(metric="cpu", threshold=90), "recurring"),
        (Cron(expr="99 * * * *"), Reminder(text="x"), "Invalid cron expression"),
        (Every(seconds=60), MetricCheck(metric="disk", threshold=90, path="/nope"), "no directory"),
    ):
        with pytest.raises(JobRefused, match=re.escape(message)):
            await scheduler.create(HERE, CREATOR, schedule, task)
    await scheduler.create(HERE, CREATOR, Every(seconds=60), Reminder(text="the one"))
    assert "already have 1 active jobs" in await h.ask("/remind 10m another", user=USER)
    call = {"kind": "check", "host": "web1", "text": "uptime", "every": "300s"}
    fake_model.script.extend([Reply(tool_calls=[("schedule", call)]), Reply(text="Sorry.")])
    await h.ask("check web1 every 5 minutes", user=OWNER)
    refused = fake_model.requests[1]["messages"][-1]["content"]
    assert refused.startswith("Error: Command checks run over SSH, and no SSH hosts are configured")
