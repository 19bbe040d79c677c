"""Tools over scheduled work: schedule and jobs (list or cancel). The model turns "every weekday
at 8:30" into structured fields; only a web check's options are words, those of ``/check``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from assistant.core.i18n import tr
from assistant.core.roles import Permission
from assistant.scheduler.checkspec import parse_check
from assistant.scheduler.parse import duration_seconds
from assistant.scheduler.types import (
    CANCELLED,
    JOB_LINE,
    AgentJob,
    At,
    CommandCheck,
    Cron,
    Every,
    JobRefused,
    Metric,
    MetricCheck,
    Reminder,
    Task,
    describe_next,
    describe_schedule,
    describe_task,
)

if TYPE_CHECKING:  # the service imports APScheduler's triggers: only when enabled
    from assistant.scheduler.service import SchedulerService
from assistant.core.tools import ToolContext, ToolResult


class ScheduleParams(BaseModel):
    """Flat on purpose: a nested union of schedules and tasks cost the model 2.7 KB per turn.
    A web check's options are the ``/check`` words in ``text`` (cheaper than five fields)."""

    kind: Literal["remind", "prompt", "check", "list", "cancel"] = Field(
        description="prompt: text runs as a request; check: alert on change; list: this "
        "chat's jobs; cancel: the job id in text"
    )
    text: str = Field(
        "",
        max_length=4000,
        description="reminder, request, command; web check: URL [status 2xx] [latency 2s] "
        "[match RE] | tls HOST [days 14]",
    )
    at: datetime | None = Field(None, description="once, local")
    every: str | None = Field(None, description="30m, 2h, 1d")
    cron: str | None = Field(None, description="5-field crontab")
    metric: Metric | None = Field(None, description="of this machine")
    above: float | None = Field(None, description="threshold")
    host: str | None = Field(None, description="run text there")
    path: str = "/"


def to_job(params: ScheduleParams) -> tuple[At | Every | Cron, Task]:
    """The structured schedule and task the flat parameters describe; JobRefused says why not."""
    given = [p for p in (params.at, params.every, params.cron) if p is not None]
    if len(given) != 1:
        raise JobRefused("Give exactly one of at, every or cron.")
    schedule: At | Every | Cron
    try:
        if params.at is not None:
            schedule = At(time=params.at)
        elif params.every is not None:
            schedule = Every(seconds=duration_seconds(params.every))
        else:
            schedule = Cron(expr=params.cron or "")
    except ValueError as exc:
        raise JobRefused(str(exc).splitlines()[-1]) from None
    text = params.text.strip()
    task: Task
    if params.kind == "remind":
        task = Reminder(text=text or "reminder")
    elif params.kind == "prompt":
        if not text:
            raise JobRefused("A prompt job needs the request in text.")
        task = AgentJob(prompt=text)
    elif params.metric is not None:
        if params.above is None:
            raise JobRefused("A metric check needs the threshold in above.")
        task = MetricCheck(metric=params.metric, threshold=params.above, path=params.path)
    elif params.host and text:
        task = CommandCheck(host=params.host, command=text)
    elif re.match(r"(?i)(https?://|tls\s)", text):
        try:
            _, task = parse_check(text)  # the schedule is at, every or cron
        except ValueError as exc:
            raise JobRefused(str(exc)) from None
    else:
        raise JobRefused(
            "A check needs metric and above, host and the command in text, or a URL "
            "or tls HOST in text."
        )
    return schedule, task


class ScheduleTool:
    name = "schedule"
    description = "Schedule a reminder, a request, or a recurring check. Times are local."
    permission = Permission.SCHEDULE
    side_effects = True  # never create the same job twice after a crash
    Params = ScheduleParams

    def __init__(self, scheduler: SchedulerService) -> None:
        self._scheduler = scheduler

    async def call(self, params: ScheduleParams, ctx: ToolContext) -> ToolResult:
        if params.kind in ("list", "cancel"):  # one tool, not two: each costs every prompt
            return await jobs_in_chat(self._scheduler, ctx, params.text.strip() or None)
        schedule, task = to_job(params)
        job, next_run = await self._scheduler.create(
            ctx.chat, ctx.sender, schedule, task, ctx.timezone.key, permissions=ctx.permissions
        )
        # the model passes this on, often word for word: in the person's language
        return ToolResult(
            tr(
                "Created job {id}: {task} — {schedule}; {next}. It can be cancelled with "
                "/cancel {id}."
            ).format(
                id=job.id,
                task=describe_task(job.task),
                schedule=describe_schedule(job.schedule, job.timezone),
                next=describe_next(next_run, job.timezone),
            )
        )


async def jobs_in_chat(
    scheduler: SchedulerService, ctx: ToolContext, cancel: str | None
) -> ToolResult:
    """This chat's jobs, or one of them cancelled (``cancel``: its id)."""
    if cancel:
        job = await scheduler.cancel(
            cancel, ctx.chat, ctx.sender, admin=Permission.ADMIN in ctx.permissions
        )
        return ToolResult(tr(CANCELLED).format(id=job.id, task=describe_task(job.task)))
    jobs = await scheduler.jobs_in(ctx.chat)
    if not jobs:
        return ToolResult(tr("No scheduled jobs in this chat."))
    return ToolResult(
        "\n".join(
            tr(JOB_LINE).format(
                id=job.id,
                task=describe_task(job.task),
                schedule=describe_schedule(job.schedule, job.timezone),
                next=describe_next(when, job.timezone),
            )
            for job, when in jobs
        )
    )
