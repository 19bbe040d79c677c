"""/remind, /jobs and /cancel: scheduled work without the model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from assistant.core.commands import Command, CommandCall
from assistant.core.i18n import N_, tr
from assistant.core.ports import Clock, now
from assistant.core.roles import Permission
from assistant.scheduler.checkspec import USAGE as CHECK_USAGE
from assistant.scheduler.checkspec import parse_check
from assistant.scheduler.parse import USAGE, parse_when
from assistant.scheduler.types import (
    CANCELLED,
    JOB_LINE,
    Job,
    JobRefused,
    Reminder,
    describe_next,
    describe_schedule,
    describe_task,
)

if TYPE_CHECKING:  # the service imports APScheduler's triggers: only when enabled
    from assistant.scheduler.service import SchedulerService


class JobCommands:
    def __init__(
        self, *, scheduler: SchedulerService, timezone: Callable[[], str], clock: Clock
    ) -> None:
        self._scheduler = scheduler
        self._timezone = timezone
        self._clock = clock

    def commands(self) -> list[Command]:
        return [
            Command(
                "remind",
                N_("remind you at a time, once or repeatedly"),
                Permission.SCHEDULE,
                self.remind,
                usage="/remind WHEN TEXT",
            ),
            Command(
                "check",
                N_("watch a URL (status, latency, body) or a TLS certificate's expiry"),
                Permission.SCHEDULE,
                self.check,
                usage="/check URL|tls HOST[:PORT] [every 5m] …",
            ),
            Command(
                "jobs",
                N_("this chat's reminders, scheduled jobs and checks"),
                Permission.SCHEDULE,
                self.jobs,
            ),
        ]

    async def remind(self, call: CommandCall) -> str:
        if not call.args:
            return tr(USAGE)
        zone = self._timezone()
        try:
            schedule, text = parse_when(call.args, now(self._clock, ZoneInfo(zone)))
            job, next_run = await self._scheduler.create(
                call.message.chat, call.message.sender, schedule, Reminder(text=text), zone
            )
        except (ValueError, JobRefused) as exc:
            return str(exc)
        return _created(job, next_run, zone)

    async def check(self, call: CommandCall) -> str:
        """``/check``: an HTTP or TLS check (needs ``web.read`` as well)."""
        if not call.args:
            return tr(CHECK_USAGE)
        zone = self._timezone()
        try:
            schedule, task = parse_check(call.args)
            job, next_run = await self._scheduler.create(
                call.message.chat,
                call.message.sender,
                schedule,
                task,
                zone,
                permissions=call.permissions,
            )
        except (ValueError, JobRefused) as exc:
            return str(exc)
        return _created(job, next_run, zone)

    async def jobs(self, call: CommandCall) -> str:
        jobs = await self._scheduler.jobs_in(call.message.chat)
        if not jobs:
            return tr("No scheduled jobs in this chat. Try /remind 10m stretch.")
        at = self._clock.time()
        lines = [tr("Scheduled here (/cancel ID cancels one):")]
        for job, when in jobs:
            lines.append(
                tr(JOB_LINE).format(
                    id=job.id,
                    task=describe_task(job.task),
                    schedule=describe_schedule(job.schedule, job.timezone),
                    next=describe_next(when, job.timezone, at),
                )
            )
        return "\n".join(lines)

    async def cancel_job(self, call: CommandCall) -> str:
        """``/cancel ID`` (the ``JobCanceller`` port)."""
        job_id = call.args.strip()
        if not job_id:
            return tr("Usage: /cancel ID — /jobs lists the ids.")
        try:
            job = await self._scheduler.cancel(
                job_id,
                call.message.chat,
                call.message.sender,
                admin=Permission.ADMIN in call.permissions,
            )
        except JobRefused as exc:
            return str(exc)
        return tr(CANCELLED).format(id=job.id, task=describe_task(job.task))


def _created(job: Job, next_run: datetime | None, zone: str) -> str:
    return tr("OK, job {id}: {task} — {schedule}; {next}. /cancel {id} cancels it.").format(
        id=job.id,
        task=describe_task(job.task),
        schedule=describe_schedule(job.schedule, zone),
        next=describe_next(next_run, zone),
    )
