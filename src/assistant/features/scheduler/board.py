"""The scheduler's jobs as the web console sees them (``core.ports.JobBoard``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.core.i18n import tr
from assistant.core.messages import ChatRef, Sender
from assistant.core.ports import JobInfo
from assistant.scheduler.timing import planned_fire
from assistant.scheduler.types import (
    CANCELLED,
    AgentJob,
    CommandCheck,
    Job,
    JobRefused,
    MetricCheck,
    Reminder,
    describe_schedule,
    describe_task,
)

if TYPE_CHECKING:
    from assistant.scheduler.service import SchedulerService


def _kind(job: Job) -> str:
    if isinstance(job.task, Reminder):
        return "reminder"
    if isinstance(job.task, AgentJob):
        return "agent"
    return "check"


def _result(job: Job) -> str:
    if not isinstance(job.task, MetricCheck | CommandCheck) or not job.runs:
        return ""
    if job.check_value is None:
        return job.check_state
    return f"{job.check_state} {job.check_value:g}"


def _info(job: Job) -> JobInfo:
    return JobInfo(
        id=job.id,
        chat=job.chat.key,
        owner=f"{job.chat.channel}:{job.sender.user_id}",
        owner_name=job.sender.name or job.sender.user_id,
        kind=_kind(job),
        what=describe_task(job.task),
        schedule=describe_schedule(job.schedule, job.timezone),
        next_run=planned_fire(job),
        last_run_at=job.last_run_at,
        runs=job.runs,
        last_result=_result(job),
        host=job.task.host if isinstance(job.task, CommandCheck) else "",
        paused=job.status == "paused",
    )


class JobBoard:
    def __init__(self, scheduler: SchedulerService) -> None:
        self._scheduler = scheduler

    async def list_jobs(self, owner: str | None) -> list[JobInfo]:
        found = await self._scheduler.table.find(status=None)
        jobs = [_info(job) for job in found if job.status in ("active", "paused")]
        return [j for j in jobs if owner is None or j.owner == owner]

    async def _mine(self, job_id: str, actor: str, admin: bool) -> Job | str:
        job = await self._scheduler.table.get(job_id.strip().lower())
        if job is None or job.status not in ("active", "paused"):
            return tr("There is no active job {id!r}.").format(id=job_id)
        if not admin and f"{job.chat.channel}:{job.sender.user_id}" != actor:
            return tr(
                "Job {id} was created by someone else; only they or an admin can cancel it."
            ).format(id=job.id)
        return job

    async def cancel_job(self, job_id: str, *, actor: str, admin: bool) -> str:
        job = await self._mine(job_id, actor, admin)
        if isinstance(job, str):
            return job
        channel, _, user = actor.partition(":")
        try:
            await self._scheduler.cancel(job.id, ChatRef(channel, user), Sender(user), admin=admin)
        except JobRefused as exc:
            return str(exc)
        return tr(CANCELLED).format(id=job.id, task=describe_task(job.task))

    async def pause_job(self, job_id: str, *, actor: str, admin: bool, paused: bool) -> str:
        job = await self._mine(job_id, actor, admin)
        if isinstance(job, str):
            return job
        if not await self._scheduler.set_paused(job.id, paused):
            done = tr("Job {id} is paused already.") if paused else tr("Job {id} is not paused.")
            return done.format(id=job.id)
        done = tr("Paused job {id}.") if paused else tr("Resumed job {id}.")
        return done.format(id=job.id)

    async def run_job_now(self, job_id: str, *, actor: str, admin: bool) -> str:
        job = await self._mine(job_id, actor, admin)
        if isinstance(job, str):
            return job
        if not await self._scheduler.request_run(job.id):
            return tr("There is no active job {id!r}.").format(id=job_id)
        return tr("Job {id} runs now.").format(id=job.id)
