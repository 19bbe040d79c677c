"""What the monitor writes, in the reader's language: metric names, alert lines, /status."""

from __future__ import annotations

from collections.abc import Mapping

from assistant.config.monitor import MonitorRule
from assistant.core.i18n import N_, tr

LABELS = {
    "cpu": N_("CPU"),
    "load1": N_("Load (1 min)"),
    "load5": N_("Load (5 min)"),
    "load15": N_("Load (15 min)"),
    "mem": N_("Memory"),
    "swap": N_("Swap"),
    "disk": N_("Disk"),
    "uptime": N_("Uptime"),
}
PERCENT = {"cpu", "mem", "swap", "disk"}


def label(metric: str) -> str:
    if metric in LABELS:
        return tr(LABELS[metric])
    kind, _, name = metric.partition(":")
    if kind == "disk":
        return tr("Disk {mount}").format(mount=name)
    return name  # a unit's name


def unit(metric: str) -> str:
    return "%" if metric in PERCENT or metric.startswith("disk:") else ""


def value(metric: str, number: float) -> str:
    if metric == "uptime":
        return duration(number)
    if metric.startswith("unit:"):
        return tr("active") if number >= 1 else tr("not active")
    return f"{number:.1f}{unit(metric)}" if unit(metric) else f"{number:.2f}"


def duration(seconds: float) -> str:
    minutes = int(seconds) // 60
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return tr("{days}d {hours}h").format(days=days, hours=hours)
    if hours:
        return tr("{hours}h {minutes}min").format(hours=hours, minutes=minutes)
    return tr("{minutes} min").format(minutes=minutes)


# An alert's title names no host: the alert carries it, and each route shows it once
# ("🔴 CRITICAL · web1: CPU 95.0% (> 90.0%)").


def unreachable_title() -> str:
    return tr("Unreachable over SSH")


def reachable_again(host: str) -> str:
    return tr("{host} answers again.").format(host=host)


def fired_title(rule: MonitorRule, now: float) -> str:
    return tr("{metric} {value} ({comparison} {threshold})").format(
        metric=label(rule.metric),
        value=value(rule.metric, now),
        comparison=rule.comparison,
        threshold=value(rule.metric, rule.threshold),
    )


def fired_detail(rule: MonitorRule, now: float, held: float) -> str:
    return tr("{metric} has been {comparison} {threshold} for {held}; now {value}.").format(
        metric=label(rule.metric),
        comparison=rule.comparison,
        threshold=value(rule.metric, rule.threshold),
        held=duration(held),
        value=value(rule.metric, now),
    )


def resolved(host: str, rule: MonitorRule, now: float) -> str:
    return tr("{host}: {metric} is back to {value}.").format(
        host=host, metric=label(rule.metric), value=value(rule.metric, now)
    )


def action_reason(host: str, rule: MonitorRule) -> str:
    return tr("The alert {metric} on {host} has an action: {command}").format(
        metric=label(rule.metric), host=host, command=rule.action
    )


def _line(name: str, shown: str) -> str:
    return tr("{name}: {value}").format(name=name, value=shown)


def numbers(values: Mapping[str, float]) -> list[str]:
    """The lines of /status HOST: one per kind of metric."""
    lines = []
    if "cpu" in values:
        lines.append(_line(label("cpu"), value("cpu", values["cpu"])))
    if "load1" in values:
        loads = " ".join(f"{values.get(m, 0):.2f}" for m in ("load1", "load5", "load15"))
        lines.append(tr("Load: {loads}").format(loads=loads))
    if "mem" in values:
        line = _line(label("mem"), value("mem", values["mem"]))
        if (swap := values.get("swap")) is not None:
            line += " · " + _line(label("swap"), value("swap", swap))
        lines.append(line)
    disks = sorted(m for m in values if m.startswith("disk:"))
    if disks:
        shown = " · ".join(f"{m[5:]} {value(m, values[m])}" for m in disks)
        lines.append(_line(label("disk"), shown))
    for m in sorted(m for m in values if m.startswith("unit:")):
        lines.append(_line(m[5:], value(m, values[m])))
    if "uptime" in values:
        lines.append(_line(label("uptime"), value("uptime", values["uptime"])))
    return lines
