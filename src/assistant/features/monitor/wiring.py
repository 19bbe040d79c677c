"""Builds the monitor from the kernel's context: the store, the charts, the commands, the
gauges, and where alerts go (the ``ALERTS`` port, found at each alert; without it, the owners'
chats)."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from assistant.config import Config
from assistant.core import i18n
from assistant.core.errors import ChannelError
from assistant.core.messages import ChatRef, OutFile
from assistant.core.ports import Alert, AlertSink, Severity
from assistant.feature import (
    ALERTS,
    HOST_ACTION,
    HOST_PROBE,
    HOST_REPORT,
    Component,
    Feature,
    Reloaded,
    changed_keys,
)
from assistant.features.monitor.charts import Panel, find_font, render_async
from assistant.features.monitor.commands import MonitorCommands
from assistant.features.monitor.gauges import HostGauges
from assistant.features.monitor.series import SeriesStore
from assistant.features.monitor.service import Monitor
from assistant.kernel import Context

log = structlog.get_logger(__name__)


class OwnerNotice:
    """Alerts without an alerts feature: one message to each owner's chat, firing and
    resolved, on the channels that run."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._firing: set[str] = set()

    def _chats(self) -> list[ChatRef]:
        running = set(self._ctx.router.channels)
        owners = [o.partition(":") for o in self._ctx.config.access.owners]
        return [ChatRef(channel, user) for channel, _, user in owners if channel in running]

    async def _send(self, text: str, files: tuple[OutFile, ...] = ()) -> None:
        for chat in self._chats():
            try:
                await self._ctx.router.notify(chat, text, plain=True, files=files)
            except ChannelError as exc:
                log.warning("monitor.notice_failed", channel=chat.channel, error=str(exc))

    async def fire(self, alert: Alert) -> None:
        if alert.key in self._firing:
            return
        self._firing.add(alert.key)
        icon = "🔴" if alert.severity is Severity.CRITICAL else "🟠"
        where = f"{alert.host}: " if alert.host else ""
        await self._send(f"{icon} {where}{alert.title}\n{alert.detail}", alert.files)

    async def resolve(self, key: str, detail: str) -> None:
        if key in self._firing:
            self._firing.discard(key)
            await self._send(f"✅ {detail}")


async def build(ctx: Context) -> Feature:
    store = SeriesStore(ctx.db)
    fallback = OwnerNotice(ctx)
    cache = ctx.state_dir / "cache" / "matplotlib"

    async def draw(title: str, panels: Sequence[Panel], start: float, end: float) -> OutFile:
        png = await render_async(
            title,
            panels,
            zone=ctx.timezone(),
            start=start,
            end=end,
            font=find_font(ctx.config.monitor.font),
            cache=cache,
        )
        return OutFile("chart.png", png, "image/png", kind="image")

    def alerts() -> AlertSink:
        return ctx.ports.get(ALERTS) or fallback

    async def chart(
        host: str, metric: str, now: float, span: float, threshold: float | None
    ) -> OutFile | None:
        try:
            return await commands.chart(host, metric, now, span, threshold)
        except Exception:  # an alert goes out without its chart rather than not at all
            log.exception("monitor.chart_failed", host=host, metric=metric)
            return None

    monitor = Monitor(
        config=lambda: ctx.live.current,
        probe=lambda: ctx.ports.get(HOST_PROBE),
        store=store,
        clock=ctx.clock,
        alerts=alerts,
        chart=chart,
        action=lambda: ctx.ports.get(HOST_ACTION),
    )
    ctx.stack.push_async_callback(monitor.aclose)
    commands = MonitorCommands(monitor, store, draw, ctx.clock.time)
    ctx.ports.provide(HOST_REPORT, commands)
    gauges = HostGauges(monitor)
    ctx.metrics.registry.register(gauges)
    ctx.stack.callback(ctx.metrics.registry.unregister, gauges)

    async def run() -> None:
        i18n.set_locale(ctx.config.assistant.language)  # alerts in the assistant's language
        await monitor.run()

    async def reload(old: Config, new: Config) -> Reloaded:
        return Reloaded(tuple(changed_keys(old.monitor, new.monitor, "monitor")))

    return Feature(
        "monitor",
        commands=commands.commands(),
        components=[Component("monitor", run)],
        reload=reload,
        parts={"monitor": monitor, "monitor_commands": commands},
    )
