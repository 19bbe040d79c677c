"""/status HOST of a monitored host (the ``HostReport`` port: its latest numbers and a chart of
the last 24 hours) and /graph HOST METRIC [24h|7d|30d]."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from assistant.core.commands import Command, CommandCall, Reply
from assistant.core.i18n import N_, tr
from assistant.core.messages import OutFile
from assistant.core.roles import Permission
from assistant.features.monitor import text
from assistant.features.monitor.charts import Panel
from assistant.features.monitor.series import SeriesStore
from assistant.features.monitor.service import Monitor

SPANS = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
STATUS_METRICS = ("cpu", "mem", "disk")
Draw = Callable[[str, Sequence[Panel], float, float], Awaitable[OutFile]]


class MonitorCommands:
    def __init__(self, monitor: Monitor, store: SeriesStore, draw: Draw, now: Callable[[], float]):
        self._monitor = monitor
        self._store = store
        self._draw = draw
        self._now = now

    def commands(self) -> list[Command]:
        return [
            Command(
                "graph",
                N_("a chart of a monitored server's metric"),
                Permission.EXEC_READONLY,
                self.graph,
                usage="/graph HOST METRIC [24h|7d|30d]",
            )
        ]

    def _watched(self, name: str) -> bool:
        return any(h.name == name for h in self._monitor.monitored())

    async def host_report(self, call: CommandCall) -> Reply | None:
        host = call.args.strip()
        if not self._watched(host):
            return None
        if Permission.EXEC_READONLY not in call.permissions:
            return Reply(tr("Your role may not look at servers."))
        state = self._monitor.hosts.get(host)
        if state is None or state.at is None:
            return Reply(
                tr("{host} has not been probed yet; try again in a minute.").format(host=host)
            )
        lines = [
            tr("{host} — probed {ago} ago").format(
                host=host, ago=text.duration(self._now() - state.at)
            )
        ]
        if state.failures:
            lines.append(
                tr("The last {count} probes failed: {error}").format(
                    count=state.failures, error=state.error
                )
            )
        lines += text.numbers(state.values)
        now = self._now()
        panels = [await self._panel(host, m, now, 86400) for m in STATUS_METRICS]
        chart = await self._draw(
            tr("{host} — last 24 hours").format(host=host), panels, now - 86400, now
        )
        return Reply("\n".join(lines), files=(chart,))

    async def _panel(
        self, host: str, metric: str, now: float, span: float, threshold: float | None = None
    ) -> Panel:
        points = await self._store.window(host, metric, now=now, span=span)
        return Panel(
            text.label(metric),
            [(p.at, p.value) for p in points],
            unit=text.unit(metric),
            threshold=threshold,
            percent=text.unit(metric) == "%",
        )

    async def chart(
        self, host: str, metric: str, now: float, span: float, threshold: float | None
    ) -> OutFile:
        """A chart of one metric over ``span`` seconds up to ``now`` (an alert's window)."""
        panel = await self._panel(host, metric, now, span, threshold)
        title = f"{host} — {text.label(metric)}"
        return await self._draw(title, [panel], now - span, now)

    async def graph(self, call: CommandCall) -> str | Reply:
        words = call.args.split()
        usage = tr("Usage: /graph HOST METRIC [24h|7d|30d], e.g. /graph web1 cpu 7d.")
        if len(words) not in (2, 3) or (len(words) == 3 and words[2] not in SPANS):
            return usage
        host, metric = words[0], words[1]
        span = SPANS[words[2] if len(words) == 3 else "24h"]
        if not self._watched(host):
            watched = ", ".join(h.name for h in self._monitor.monitored())
            return tr("{host} is not monitored. Monitored: {hosts}.").format(
                host=host, hosts=watched
            )
        known = await self._store.metrics(host)
        if metric not in known:
            return tr("{host} has no metric {metric!r}. It has: {metrics}.").format(
                host=host, metric=metric, metrics=", ".join(known) or "—"
            )
        now = self._now()
        chart = await self.chart(host, metric, now, span, None)
        return Reply(
            f"{host} · {text.label(metric)} · {words[2] if len(words) == 3 else '24h'}",
            files=(chart,),
        )
