"""The host probe: one fixed shell command that reads a Linux host's vital signs in one round
trip, and the pure functions that turn its output into numbers.

The command is built in (nobody chooses it, it takes no arguments but the systemd unit names of
the host's own config, which are checked against a strict pattern and quoted), so it runs
without the command policy and without approval. Its output is small (a few hundred bytes plus
one line per mount and unit): sections, each introduced by a ``@name`` line.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_SCRIPT = (
    "echo @stat; head -n 1 /proc/stat; "
    "echo @loadavg; cat /proc/loadavg; "
    "echo @meminfo; grep -E '^(MemTotal|MemFree|MemAvailable|Buffers|Cached|SwapTotal|SwapFree):'"
    " /proc/meminfo; "
    "echo @uptime; cat /proc/uptime; "
    "echo @df; { df -P -k -x tmpfs -x devtmpfs -x squashfs -x overlay 2>/dev/null || df -P -k; }; "
)


def probe_command(units: Iterable[str] = ()) -> str:
    """The probe for a host, with ``systemctl is-active`` for its configured units."""
    names = list(units)
    if not names:
        return _SCRIPT + "true"
    quoted = " ".join(shlex.quote(u) for u in names)
    return _SCRIPT + f"echo @units; systemctl is-active {quoted} 2>/dev/null; true"


@dataclass(frozen=True, slots=True)
class CpuTimes:
    total: int
    idle: int  # idle + iowait


@dataclass(frozen=True, slots=True)
class Reading:
    """What one probe saw: raw counters, before any rate is computed."""

    cpu: CpuTimes | None = None
    load: tuple[float, float, float] | None = None
    meminfo: Mapping[str, int] = field(default_factory=dict)  # kB
    uptime: float | None = None
    disks: Mapping[str, float] = field(default_factory=dict)  # mount → percent used
    units: Mapping[str, str] = field(default_factory=dict)  # unit → active|inactive|failed|…


class ProbeParseError(ValueError):
    """The output is not what the probe prints (not Linux, or something in the way)."""


def _sections(output: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("@") and line[1:].isalpha():
            current = sections.setdefault(line[1:], [])
        elif current is not None and line.strip():
            current.append(line)
    return sections


def parse_cpu(line: str) -> CpuTimes:
    """The aggregate ``cpu`` line of /proc/stat."""
    words = line.split()
    if len(words) < 5 or words[0] != "cpu":
        raise ProbeParseError(f"not a /proc/stat cpu line: {line[:80]!r}")
    try:
        # guest and guest_nice are already counted in user and nice: leave them out
        values = [int(w) for w in words[1:9]]
    except ValueError:
        raise ProbeParseError(f"not a /proc/stat cpu line: {line[:80]!r}") from None
    if any(v < 0 for v in values):
        raise ProbeParseError("negative cpu time")
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return CpuTimes(total=sum(values), idle=idle)


def parse_loadavg(line: str) -> tuple[float, float, float]:
    words = line.split()
    try:
        load = (float(words[0]), float(words[1]), float(words[2]))
    except (IndexError, ValueError):
        raise ProbeParseError(f"not /proc/loadavg: {line[:80]!r}") from None
    if not all(math.isfinite(v) and v >= 0 for v in load):
        raise ProbeParseError(f"not /proc/loadavg: {line[:80]!r}")
    return load


def parse_meminfo(lines: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        words = rest.split()
        if words and words[0].isdigit():
            found[name.strip()] = int(words[0])
    return found


def parse_df(lines: Iterable[str]) -> dict[str, float]:
    """``df -P -k``: mount point → percent used, as df computes it (used / (used + avail))."""
    disks: dict[str, float] = {}
    for line in lines:
        words = line.split()
        if len(words) < 6 or not words[2].isdigit() or not words[3].isdigit():
            continue  # the header, or a line we cannot read
        used, available = int(words[2]), int(words[3])
        mount = " ".join(words[5:])
        if used + available > 0 and mount.startswith("/"):
            disks[mount] = round(100.0 * used / (used + available), 2)
    return disks


def parse_probe(output: str, units: Iterable[str] = ()) -> Reading:
    """The probe's output as a ``Reading``; ``ProbeParseError`` when it has no readable
    section at all (a host that is not Linux, a shell that prints a banner is fine)."""
    sections = _sections(output)
    cpu = parse_cpu(sections["stat"][0]) if sections.get("stat") else None
    load = parse_loadavg(sections["loadavg"][0]) if sections.get("loadavg") else None
    uptime: float | None = None
    if sections.get("uptime"):
        try:
            uptime = float(sections["uptime"][0].split()[0])
        except (IndexError, ValueError):
            uptime = None
    names = list(units)
    states = [s.strip() for s in sections.get("units", [])]
    reading = Reading(
        cpu=cpu,
        load=load,
        meminfo=parse_meminfo(sections.get("meminfo", [])),
        uptime=uptime,
        disks=parse_df(sections.get("df", [])),
        # no line for a unit: systemctl is missing (no systemd there): its state is unknown
        units={name: states[i] if i < len(states) else "unknown" for i, name in enumerate(names)},
    )
    if reading.cpu is None and reading.load is None and not reading.meminfo:
        raise ProbeParseError("the output has none of the probe's sections")
    return reading


def cpu_percent(before: CpuTimes | None, after: CpuTimes | None) -> float | None:
    """CPU busy percent between two readings; None without two usable ones (the first probe,
    a reboot that reset the counters)."""
    if before is None or after is None:
        return None
    total = after.total - before.total
    idle = after.idle - before.idle
    if total <= 0 or idle < 0 or idle > total:
        return None
    return round(100.0 * (total - idle) / total, 2)


def _percent_used(total: int | None, free: int | None) -> float | None:
    if not total or free is None:
        return None
    return round(100.0 * max(0, total - free) / total, 2)


def metrics(reading: Reading, previous: Reading | None = None) -> dict[str, float]:
    """The numbers one probe gives, by metric name: ``cpu`` (percent busy since the previous
    probe), ``load1/5/15``, ``mem`` and ``swap`` (percent used), ``disk`` (the fullest mount),
    ``disk:/MOUNT`` (percent used), ``uptime`` (seconds), ``unit:NAME`` (1 active, else 0)."""
    values: dict[str, float] = {}
    cpu = cpu_percent(previous.cpu if previous else None, reading.cpu)
    if cpu is not None:
        values["cpu"] = cpu
    if reading.load is not None:
        values["load1"], values["load5"], values["load15"] = reading.load
    info = reading.meminfo
    available = info.get("MemAvailable")
    if available is None and "MemFree" in info:
        available = info["MemFree"] + info.get("Buffers", 0) + info.get("Cached", 0)
    mem = _percent_used(info.get("MemTotal"), available)
    if mem is not None:
        values["mem"] = mem
    if "SwapTotal" in info:
        values["swap"] = _percent_used(info["SwapTotal"], info.get("SwapFree")) or 0.0
    if reading.uptime is not None:
        values["uptime"] = reading.uptime
    if reading.disks:
        values["disk"] = max(reading.disks.values())
        for mount, used in reading.disks.items():
            values[f"disk:{mount}"] = used
    for unit, state in reading.units.items():
        values[f"unit:{unit}"] = 1.0 if state == "active" else 0.0
    return values
