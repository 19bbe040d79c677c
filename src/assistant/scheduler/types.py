"""What a job is: when it runs (``At | Every | Cron``) and what it does
(``Reminder | AgentJob | MetricCheck | CommandCheck | HttpCheck | TlsCheck``), as
discriminated unions.

These models are the model tool's parameters too, so their field descriptions are what the
model reads: keep them short. Light to import (no APScheduler).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from assistant.core.errors import ToolError
from assistant.core.i18n import N_, ngettext, tr
from assistant.core.messages import ChatRef, Sender
from assistant.scheduler.patterns import checked


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

    @field_validator("expect_regex")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return _regex(value)


_STATUS = re.compile(r"^(?:([1-5])xx|(\d{3})(?:-(\d{3}))?)$", re.I)


def status_range(spec: str) -> tuple[int, int]:
    """``"200"`` → (200, 200); ``"200-399"`` → (200, 399); ``"2xx"`` → (200, 299)."""
    found = _STATUS.match(spec.replace(" ", ""))
    low, high = 0, 0
    if found and found.group(1):
        low = int(found.group(1)) * 100
        high = low + 99
    elif found:
        low = int(found.group(2))
        high = int(found.group(3) or low)
    if not 100 <= low <= high <= 599:
        raise ValueError(
            tr("{spec!r} is not an HTTP status: write 200, 200-399 or 2xx").format(spec=spec)
        )
    return low, high


def _regex(value: str) -> str:
    if not value:
        return value
    try:
        return checked(value)
    except ValueError as exc:
        message = tr("{regex!r} is not a regex: {error}").format(regex=value, error=exc)
        raise ValueError(message) from None


class HttpCheck(_Frozen):
    """A request every run: an alert when it fails, answers with a status out of ``status``,
    slower than ``max_latency`` seconds, or with a body ``regex`` does not match."""

    type: Literal["http"] = "http"
    url: str = Field(min_length=1, max_length=2000)
    method: Literal["GET", "HEAD"] = "GET"
    status: str = "200-299"
    max_latency: float | None = Field(None, gt=0)
    regex: str = Field("", max_length=500)
    timeout: float = Field(10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(
                tr("{url!r} is not an http:// or https:// URL").format(url=value.strip())
            )
        if parts.username is not None or parts.password is not None:
            # it would be stored, listed and shown in every alert
            raise ValueError(tr("A check's URL may not carry a user name or password."))
        return value.strip()

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        low, high = status_range(value)
        return str(low) if low == high else f"{low}-{high}"

    @field_validator("regex")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return _regex(value)

    @model_validator(mode="after")
    def _body(self) -> HttpCheck:
        if self.regex and self.method == "HEAD":
            raise ValueError(tr("A HEAD request has no body to match; use GET."))
        return self


class TlsCheck(_Frozen):
    """A TLS handshake every run: an alert when the certificate does not verify (or there is
    no handshake), or when it expires within ``days`` days."""

    type: Literal["tls"] = "tls"
    host: str = Field(min_length=1, max_length=253, pattern=r"^[^\s/@\[\]]+$")
    port: int = Field(443, ge=1, le=65535)
    days: int = Field(14, ge=0, le=3650)
    timeout: float = Field(10.0, gt=0, le=120)

    @property
    def target(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def first_error(exc: ValidationError) -> str:
    """The first problem of a task's validation, for the user: our validators' own message,
    else the field and pydantic's words."""
    problem = exc.errors()[0]
    error = problem.get("ctx", {}).get("error")
    if error is not None:
        return str(error)
    return f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"


def tls_target(text: str) -> tuple[str, int]:
    """``"example.com"`` → (``"example.com"``, 443); ``"example.com:8443"``, ``"[::1]:443"``,
    ``"https://example.com/"`` → host and port; ValueError when it is not one."""
    text = text.strip()
    parts = urlsplit(text if "//" in text else f"//{text}")
    try:
        port = parts.port or 443
    except ValueError:
        port = 0
    if not parts.hostname or not 1 <= port <= 65535 or parts.path.strip("/"):
        raise ValueError(tr("{target!r} is not HOST or HOST:PORT").format(target=text))
    return parts.hostname, port


Check = MetricCheck | CommandCheck | HttpCheck | TlsCheck
WebCheck = HttpCheck | TlsCheck  # checks that need the web.read permission
AnyTask = Reminder | AgentJob | MetricCheck | CommandCheck | HttpCheck | TlsCheck
Task = Annotated[AnyTask, Field(discriminator="type")]

SCHEDULE: TypeAdapter[At | Every | Cron] = TypeAdapter(Schedule)
TASK: TypeAdapter[AnyTask] = TypeAdapter(Task)


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            tr("unknown time zone {zone!r}; use an IANA name such as 'Asia/Shanghai'").format(
                zone=name
            )
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
    task: AnyTask
    status: str = "active"  # active | paused | done | cancelled
    created_at: float = 0.0
    runs: int = 0
    last_run_at: float | None = None
    last_due: float | None = None  # when the last run was due
    check_state: str = "ok"  # monitoring: what the user was last told ("ok" | "alert")
    check_value: float | None = None
    last_alert_at: float | None = None
    next_fire: float | None = None  # when it runs next (None: not planned yet, or no more)


_UNITS = ((N_("{n}d"), 86400), (N_("{n}h"), 3600), (N_("{n}m"), 60), (N_("{n}s"), 1))


def duration(seconds: float) -> str:
    """``5400`` → ``1h30m``; ``0.5`` → ``0.5s`` (in the current language)."""
    if seconds < 60 and seconds != int(seconds):
        return tr("{n}s").format(n=f"{seconds:g}")
    total = round(seconds)
    parts = []
    for unit, size in _UNITS:
        if total >= size:
            parts.append(tr(unit).format(n=total // size))
            total %= size
    return "".join(parts) or tr("{n}s").format(n=0)


_ON_DAY = {
    "mon": N_("every Monday at {time} ({zone})"),
    "tue": N_("every Tuesday at {time} ({zone})"),
    "wed": N_("every Wednesday at {time} ({zone})"),
    "thu": N_("every Thursday at {time} ({zone})"),
    "fri": N_("every Friday at {time} ({zone})"),
    "sat": N_("every Saturday at {time} ({zone})"),
    "sun": N_("every Sunday at {time} ({zone})"),
    "*": N_("every day at {time} ({zone})"),
    "mon-fri": N_("weekdays at {time} ({zone})"),
}


def describe_schedule(schedule: At | Every | Cron, zone: str) -> str:
    if isinstance(schedule, At):
        local = schedule.time.astimezone(ZoneInfo(zone))
        return tr("once at {time} ({zone})").format(time=f"{local:%Y-%m-%d %H:%M}", zone=zone)
    if isinstance(schedule, Every):
        return tr("every {interval}").format(interval=duration(schedule.seconds))
    minute, hour, day, month, weekday = cron_for_apscheduler(schedule.expr).split()
    if minute.isdigit() and hour.isdigit() and day == "*" and month == "*" and weekday in _ON_DAY:
        at = f"{int(hour):02d}:{int(minute):02d}"
        return tr(_ON_DAY[weekday]).format(time=at, zone=zone)
    return tr("cron '{expr}' ({zone})").format(expr=schedule.expr, zone=zone)


def describe_task(task: AnyTask) -> str:
    if isinstance(task, Reminder):
        return f"⏰ {task.text}"
    if isinstance(task, AgentJob):
        return f"🤖 {task.prompt}"
    if isinstance(task, MetricCheck):
        return tr("📈 {metric} above {threshold:g}").format(
            metric=metric_label(task), threshold=task.threshold
        )
    if isinstance(task, HttpCheck):
        return _describe_http(task)
    if isinstance(task, TlsCheck):
        days = ngettext(
            "🔒 TLS certificate of {target} (alert {days} day before it expires)",
            "🔒 TLS certificate of {target} (alert {days} days before it expires)",
            task.days,
        )
        return days.format(target=task.target, days=task.days)
    if task.expect_regex:
        expect = tr("exit {status} and output matching /{regex}/").format(
            status=task.expect_status, regex=task.expect_regex
        )
    else:
        expect = tr("exit {status}").format(status=task.expect_status)
    return tr("📈 `{command}` on {host} ({expect})").format(
        command=task.command, host=task.host, expect=expect
    )


def _describe_http(task: HttpCheck) -> str:
    expect = [tr("status {status}").format(status=task.status)]
    if task.max_latency is not None:
        expect.append(tr("within {time}").format(time=duration(task.max_latency)))
    if task.regex:
        expect.append(tr("body matching /{regex}/").format(regex=task.regex))
    return tr("🌐 {method} {url} ({expect})").format(
        method=task.method, url=task.url, expect=", ".join(expect)
    )


_METRICS = {"cpu": N_("CPU %"), "memory": N_("memory %"), "load": N_("load per CPU")}


def metric_label(task: MetricCheck) -> str:
    if task.metric == "disk":
        return tr("disk {path} %").format(path=task.path)
    return tr(_METRICS[task.metric])


JOB_LINE = N_("{id} {task} — {schedule}; {next}")  # a line of /jobs and the jobs tool
CANCELLED = N_("Cancelled job {id}: {task}.")


def describe_next(when: datetime | None, zone: str, now: float | None = None) -> str:
    if when is None:
        return tr("no further runs")
    local = f"{when.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"
    if now is not None and when.timestamp() <= now:
        return tr("next {time} (due now)").format(time=local)
    return tr("next {time}").format(time=local)


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
