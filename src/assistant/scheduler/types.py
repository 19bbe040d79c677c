"""What a job is: when it runs (``At | Every | Cron``) and what it does
(``Reminder | AgentJob | MetricCheck | CommandCheck``), as discriminated unions.

These models are the model tool's parameters too, so their field descriptions are what the
model reads: keep them short. Light to import (no APScheduler).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from pydantic.json_schema import SkipJsonSchema

from assistant.core.errors import ToolError
from assistant.core.messages import ChatRef, Sender


class JobRefused(ToolError):
    """A job that cannot be created or changed; the message says why, for the user."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class At(_Frozen):
    type: Literal["at"] = "at"
    time: datetime = Field(description="local date and time, e.g. 2026-12-01T08:00")


class Every(_Frozen):
    type: Literal["every"] = "every"
    seconds: float = Field(gt=0, description="interval in seconds")
    start: SkipJsonSchema[datetime | None] = None  # set when created: runs at start + k·interval


_CRON_FIELD = re.compile(r"^[\w*/,\-]+$")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Cron(_Frozen):
    type: Literal["cron"] = "cron"
    expr: str = Field(description="crontab 'minute hour day month weekday', e.g. '30 8 * * 1-5'")

    @field_validator("expr")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                f"{value!r} is not a crontab expression of five fields "
                "(minute hour day month weekday), e.g. '30 8 * * 1-5'"
            )
        return " ".join(fields)


Schedule = Annotated[At | Every | Cron, Field(discriminator="type")]


class Reminder(_Frozen):
    type: Literal["reminder"] = "reminder"
    text: str = Field(min_length=1, max_length=2000, description="what to remind of")


class AgentJob(_Frozen):
    type: Literal["agent"] = "agent"
    prompt: str = Field(min_length=1, max_length=4000, description="the request to run")


Metric = Literal["cpu", "memory", "disk", "load"]


class MetricCheck(_Frozen):
    type: Literal["metric"] = "metric"
    metric: Metric = Field(description="cpu %, memory %, disk % used, load per CPU")
    threshold: float = Field(description="alert when the value is above this")
    path: str = Field("/", description="for disk: the mount point")


class CommandCheck(_Frozen):
    type: Literal["command"] = "command"
    host: str = Field(min_length=1, description="an SSH host name from the config")
    command: str = Field(min_length=1, max_length=2000)
    expect_status: int = Field(0, description="the exit status when healthy")
    expect_regex: str = Field("", description="a regex the output must match, if any")


Task = Annotated[Reminder | AgentJob | MetricCheck | CommandCheck, Field(discriminator="type")]

SCHEDULE: TypeAdapter[At | Every | Cron] = TypeAdapter(Schedule)
TASK: TypeAdapter[Reminder | AgentJob | MetricCheck | CommandCheck] = TypeAdapter(Task)


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as 'Asia/Shanghai'"
        ) from None


def cron_for_apscheduler(expr: str) -> str:
    """Weekday numbers as in crontab (0 or 7 = Sunday) turned into names: APScheduler 3 reads
    0 as Monday."""
    minute, hour, day, month, weekday = expr.split()
    weekday = re.sub(r"(?<![/\d])(\d+)", lambda m: _WEEKDAYS[int(m.group(1)) % 8], weekday)
    return " ".join((minute, hour, day, month, weekday))


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    chat: ChatRef
    sender: Sender
    timezone: str
    schedule: At | Every | Cron
    task: Reminder | AgentJob | MetricCheck | CommandCheck
    status: str = "active"  # active | done | cancelled
    created_at: float = 0.0
    runs: int = 0
    last_run_at: float | None = None
    last_due: float | None = None  # when the last run was due
    check_state: str = "ok"  # monitoring: what the user was last told ("ok" | "alert")
    check_value: float | None = None
    last_alert_at: float | None = None
    next_fire: float | None = None  # when it runs next (None: not planned yet, or no more)


def duration(seconds: float) -> str:
    """``5400`` → ``1h30m``; ``0.5`` → ``0.5s``."""
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:g}s"
    total = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts) or "0s"


_DAY_NAMES = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday"}
_DAY_NAMES |= {"fri": "Friday", "sat": "Saturday", "sun": "Sunday"}


def describe_schedule(schedule: At | Every | Cron, zone: str) -> str:
    if isinstance(schedule, At):
        local = schedule.time.astimezone(ZoneInfo(zone))
        return f"once at {local:%Y-%m-%d %H:%M} ({zone})"
    if isinstance(schedule, Every):
        return f"every {duration(schedule.seconds)}"
    minute, hour, day, month, weekday = cron_for_apscheduler(schedule.expr).split()
    if minute.isdigit() and hour.isdigit() and day == "*" and month == "*":
        at = f"{int(hour):02d}:{int(minute):02d}"
        if weekday == "*":
            return f"every day at {at} ({zone})"
        if weekday == "mon-fri":
            return f"weekdays at {at} ({zone})"
        if weekday in _DAY_NAMES:
            return f"every {_DAY_NAMES[weekday]} at {at} ({zone})"
    return f"cron '{schedule.expr}' ({zone})"


def describe_task(task: Reminder | AgentJob | MetricCheck | CommandCheck) -> str:
    if isinstance(task, Reminder):
        return f"⏰ {task.text}"
    if isinstance(task, AgentJob):
        return f"🤖 {task.prompt}"
    if isinstance(task, MetricCheck):
        return f"📈 {metric_label(task)} above {task.threshold:g}"
    expect = f"exit {task.expect_status}"
    if task.expect_regex:
        expect += f" and output matching /{task.expect_regex}/"
    return f"📈 `{task.command}` on {task.host} ({expect})"


def metric_label(task: MetricCheck) -> str:
    if task.metric == "disk":
        return f"disk {task.path} %"
    return {"cpu": "CPU %", "memory": "memory %", "load": "load per CPU"}[task.metric]


def describe_next(when: datetime | None, zone: str, now: float | None = None) -> str:
    if when is None:
        return "no further runs"
    local = when.astimezone(ZoneInfo(zone))
    overdue = " (due now)" if now is not None and when.timestamp() <= now else ""
    return f"next {local:%Y-%m-%d %H:%M}{overdue}"


def is_dst_repeat(
    schedule: At | Every | Cron, zone: str, previous_due: float | None, due: float
) -> bool:
    """True for the second run of a fixed-time cron job in the hour a DST change repeats
    (02:30 happens twice when clocks go back): such a job runs once, as with cron(8)."""
    if not isinstance(schedule, Cron) or previous_due is None or previous_due == due:
        return False
    hour = schedule.expr.split()[1]
    if "*" in hour or "/" in hour:
        return False  # hourly-style jobs follow real time
    tz = ZoneInfo(zone)
    wall = datetime.fromtimestamp(due, tz).replace(tzinfo=None)
    return wall == datetime.fromtimestamp(previous_due, tz).replace(tzinfo=None)


def is_recurring(schedule: At | Every | Cron) -> bool:
    return not isinstance(schedule, At)


def interval_of(schedule: At | Every | Cron) -> timedelta | None:
    return timedelta(seconds=schedule.seconds) if isinstance(schedule, Every) else None
