"""Tools over scheduled work: schedule, list_jobs, cancel_job. The model turns "every weekday
at 8:30" into structured fields; it never hands over free text to parse."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from assistant.core.roles import Permission
from assistant.scheduler.types import (
    Schedule,
    Task,
    describe_next,
    describe_schedule,
    describe_task,
)

if TYPE_CHECKING:  # the service imports APScheduler: only when the scheduler is enabled
    from assistant.scheduler.service import SchedulerService
from assistant.tools.base import ToolContext, ToolResult


class ScheduleParams(BaseModel):
    when: Schedule
    task: Task
    timezone: str | None = Field(None, description="IANA zone; default: the user's")


class ScheduleTool:
    name = "schedule"
    description = (
        "Schedule a reminder (sent as written), an agent job (the prompt runs as a request at "
        "that time) or a recurring monitoring check (alerts on change). Times are local."
    )
    permission = Permission.SCHEDULE
    side_effects = True  # never create the same job twice after a crash
    Params = ScheduleParams

    def __init__(self, scheduler: SchedulerService) -> None:
        self._scheduler = scheduler

    async def call(self, params: ScheduleParams, ctx: ToolContext) -> ToolResult:
        job, next_run = await self._scheduler.create(
            ctx.chat, ctx.sender, params.when, params.task, params.timezone or ctx.timezone.key
        )
        return ToolResult(
            f"Created job {job.id}: {describe_task(job.task)} — "
            f"{describe_schedule(job.schedule, job.timezone)}; "
            f"{describe_next(next_run, job.timezone)}. It can be cancelled with /cancel {job.id}."
        )


class ListJobsParams(BaseModel):
    pass


class ListJobsTool:
    name = "list_jobs"
    description = "The scheduled jobs of this chat."
    permission = Permission.SCHEDULE
    side_effects = False
    Params = ListJobsParams

    def __init__(self, scheduler: SchedulerService) -> None:
        self._scheduler = scheduler

    async def call(self, params: ListJobsParams, ctx: ToolContext) -> ToolResult:
        jobs = await self._scheduler.jobs_in(ctx.chat)
        if not jobs:
            return ToolResult("No scheduled jobs in this chat.")
        return ToolResult(
            "\n".join(
                f"{job.id} {describe_task(job.task)} — "
                f"{describe_schedule(job.schedule, job.timezone)}; "
                f"{describe_next(when, job.timezone)}"
                for job, when in jobs
            )
        )


class CancelJobParams(BaseModel):
    id: str = Field(min_length=1, max_length=16)


class CancelJobTool:
    name = "cancel_job"
    description = "Cancel a scheduled job by id."
    permission = Permission.SCHEDULE
    side_effects = True
    Params = CancelJobParams

    def __init__(self, scheduler: SchedulerService) -> None:
        self._scheduler = scheduler

    async def call(self, params: CancelJobParams, ctx: ToolContext) -> ToolResult:
        job = await self._scheduler.cancel(
            params.id, ctx.chat, ctx.sender, admin=Permission.ADMIN in ctx.permissions
        )
        return ToolResult(f"Cancelled job {job.id}: {describe_task(job.task)}.")
