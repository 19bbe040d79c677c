"""Monitoring checks: measure, compare with the threshold, and tell the user only when the
state changes (ok → alert, alert → ok), at most once per cooldown."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import psutil

from assistant.core.i18n import tr
from assistant.core.ports import CommandRunner
from assistant.scheduler.patterns import search
from assistant.scheduler.types import CommandCheck, MetricCheck, metric_label

OK = "ok"
ALERT = "alert"
_OUTPUT_CHARS = 300


@dataclass(frozen=True, slots=True)
class Observation:
    failing: bool
    value: float | None
    detail: str  # what was seen, for the message (in the current language)


@dataclass(frozen=True, slots=True)
class Decision:
    notify: bool
    state: str  # what the user has been told after this run


def decide(
    told: str, failing: bool, last_notice: float | None, now: float, cooldown: float
) -> Decision:
    """``told`` is the state the user last heard of (a new check starts at ok)."""
    seen = ALERT if failing else OK
    if seen == told:
        return Decision(False, told)
    if last_notice is not None and now - last_notice < cooldown:
        return Decision(False, told)  # flapping: say it once the cooldown is over, if still so
    return Decision(True, seen)


def sample(check: MetricCheck) -> float:
    """The metric's current value; blocking (CPU is sampled for half a second)."""
    if check.metric == "cpu":
        return float(psutil.cpu_percent(interval=0.5))
    if check.metric == "memory":
        return float(psutil.virtual_memory().percent)
    if check.metric == "disk":
        return float(psutil.disk_usage(check.path).percent)
    return os.getloadavg()[0] / (psutil.cpu_count() or 1)


async def observe_metric(check: MetricCheck) -> Observation:
    try:
        value = await asyncio.to_thread(sample, check)
    except OSError as exc:
        detail = tr("cannot read {metric}: {error}").format(
            metric=metric_label(check), error=exc.strerror or exc
        )
        return Observation(True, None, detail)
    if value > check.threshold:
        seen = tr("{metric} is {value:.1f}, above the threshold {threshold:g}")
    else:
        seen = tr("{metric} is {value:.1f}, within the threshold {threshold:g}")
    detail = seen.format(metric=metric_label(check), value=value, threshold=check.threshold)
    return Observation(value > check.threshold, value, detail)


async def observe_command(
    check: CommandCheck, runner: CommandRunner | None, timeout: float, actor: str
) -> Observation:
    if runner is None or check.host not in runner.hosts():
        detail = tr("the SSH host {host!r} is not configured").format(host=check.host)
        return Observation(True, None, detail)
    refusal = await runner.refusal(check.host, check.command, actor)
    if refusal is not None:
        detail = tr("the check may no longer run: {refusal}").format(refusal=refusal)
        return Observation(True, None, detail)
    outcome = await runner.run(check.host, check.command, timeout=timeout, actor=actor)
    failing = outcome.exit_status != check.expect_status
    if not failing and check.expect_regex:
        failing = not await search(check.expect_regex, outcome.output)
    output = outcome.output.strip()
    if len(output) > _OUTPUT_CHARS:
        output = output[:_OUTPUT_CHARS] + "…"
    if output:
        exited = tr("`{command}` on {host} exited {status}: {output}")
    else:
        exited = tr("`{command}` on {host} exited {status}")
    detail = exited.format(
        command=check.command, host=check.host, status=outcome.exit_status, output=output
    )
    return Observation(failing, float(outcome.exit_status), detail)
