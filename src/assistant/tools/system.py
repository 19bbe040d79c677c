"""Tools about the machine the assistant runs on: the time and the system's health."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psutil
from pydantic import BaseModel

from assistant.core.errors import ToolError
from assistant.core.ports import Clock, SystemClock, now
from assistant.core.roles import Permission
from assistant.core.tools import ToolContext, ToolResult


class CurrentTimeParams(BaseModel):
    timezone: str | None = None  # IANA name; default: the configured zone


class CurrentTimeTool:
    name = "current_time"
    description = "Current date and time."
    permission = Permission.CHAT
    side_effects = False
    Params = CurrentTimeParams

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()

    async def call(self, params: CurrentTimeParams, ctx: ToolContext) -> ToolResult:
        zone = ctx.timezone
        if params.timezone:
            try:
                zone = ZoneInfo(params.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ToolError(f"Unknown time zone {params.timezone!r}.") from None
        at = now(self._clock, zone)
        return ToolResult(f"{at:%Y-%m-%d %H:%M:%S} {at:%A} {zone.key} (UTC{at:%z})")


class SystemStatusParams(BaseModel):
    pass


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def _duration(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h {minutes}m" if days else f"{hours}h {minutes}m"


def collect_status(paths: tuple[Path, ...]) -> str:
    """A compact report of this machine; blocking (samples CPU for 0.3 s)."""
    cpu = psutil.cpu_percent(interval=0.3)
    load = os.getloadavg()
    mem = psutil.virtual_memory()
    swap = psutil.swap_memory()
    lines = [
        f"host: {socket.gethostname()} ({platform.system()} {platform.release()})",
        f"uptime: {_duration(time.time() - psutil.boot_time())}",
        f"load: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {psutil.cpu_count() or 1} CPUs; "
        f"cpu {cpu:.0f}%",
        f"memory: {_size(mem.total - mem.available)} used of {_size(mem.total)} "
        f"({mem.percent:.0f}%), {_size(mem.available)} available; "
        f"swap {_size(swap.used)} of {_size(swap.total)}",
    ]
    seen: set[int] = set()
    for path in paths:
        try:
            device = path.stat().st_dev
            usage = psutil.disk_usage(str(path))
        except OSError:
            continue
        if device in seen:
            continue
        seen.add(device)
        lines.append(
            f"disk {path}: {_size(usage.used)} used of {_size(usage.total)} "
            f"({usage.percent:.0f}%), {_size(usage.free)} free"
        )
    rss = psutil.Process().memory_info().rss
    lines.append(f"assistant process: {_size(rss)} resident")
    return "\n".join(lines)


class SystemStatusTool:
    name = "system_status"
    description = "This machine's uptime, load, CPU, memory and disk."
    permission = Permission.SYSTEM
    side_effects = False
    Params = SystemStatusParams

    def __init__(self, paths: tuple[Path, ...] = (Path("/"),)) -> None:
        self._paths = paths

    async def call(self, params: SystemStatusParams, ctx: ToolContext) -> ToolResult:
        return ToolResult(await asyncio.to_thread(collect_status, self._paths))
