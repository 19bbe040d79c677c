"""The monitor: every ``interval`` on the clock, one probe per monitored host (at most eight at
once), its numbers stored, the rules stepped, alerts fired and resolved; then the series are
averaged and pruned. What the last probe of each host saw is kept for /status and /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from assistant.config import Config
from assistant.config.ssh import SSHHost
from assistant.core.errors import AssistantError, ToolError
from assistant.core.messages import OutFile
from assistant.core.ports import Alert, AlertSink, Clock, HostAction, HostProbe, Severity
from assistant.features.monitor import text
from assistant.features.monitor.rules import Change, RuleState, alert_key, rules_for, step
from assistant.features.monitor.series import SeriesStore
from assistant.ssh.probe import ProbeParseError, Reading, metrics, parse_probe

log = structlog.get_logger(__name__)

_AT_ONCE = 8
ChartMaker = Callable[[str, str, float, float, float | None], Awaitable[OutFile | None]]


@dataclass
class HostState:
    reading: Reading | None = None
    values: dict[str, float] = field(default_factory=dict)
    at: float | None = None  # when the last successful probe ran
    seconds: float = 0.0  # how long it took
    failures: int = 0
    error: str = ""
    unreachable: bool = False  # its alert fires

    @property
    def up(self) -> bool:
        return self.at is not None and self.failures == 0


class Monitor:
    def __init__(
        self,
        *,
        config: Callable[[], Config],
        probe: Callable[[], HostProbe | None],
        store: SeriesStore,
        clock: Clock,
        alerts: Callable[[], AlertSink],
        chart: ChartMaker,
        action: Callable[[], HostAction | None] = lambda: None,
    ) -> None:
        self._config = config
        self._probe = probe
        self._store = store
        self._clock = clock
        self._alerts = alerts
        self._chart = chart
        self._action = action
        self._actions: set[asyncio.Task[None]] = set()  # rules' actions waiting or running
        self.hosts: dict[str, HostState] = {}
        self._rules: dict[tuple[str, str], RuleState] = {}
        self._last_maintained = 0.0

    def monitored(self) -> list[SSHHost]:
        return [h for h in self._config().ssh.hosts if h.monitor]

    async def aclose(self) -> None:
        """Cancel the rules' actions still waiting for an approval or running."""
        for task in self._actions:
            task.cancel()
        await asyncio.gather(*self._actions, return_exceptions=True)

    async def run(self) -> None:
        """Probe on the clock until cancelled; a round that takes longer than the interval
        is followed by the next at once."""
        while True:
            started = self._clock.monotonic()
            await self.round()
            interval = self._config().monitor.interval
            await self._clock.sleep(interval - (self._clock.monotonic() - started))

    async def round(self) -> None:
        now = self._clock.time()
        gate = asyncio.Semaphore(_AT_ONCE)

        async def one(host: SSHHost) -> None:
            async with gate:
                await self._probe_host(host, now)

        hosts = self.monitored()
        for gone in set(self.hosts) - {h.name for h in hosts}:  # monitor = false since
            del self.hosts[gone]
        async with asyncio.TaskGroup() as group:
            for host in hosts:
                group.create_task(one(host))
        if now - self._last_maintained >= 300:
            self._last_maintained = now
            await self._store.maintain(now)

    async def _probe_host(self, host: SSHHost, now: float) -> None:
        state = self.hosts.setdefault(host.name, HostState())
        prober = self._probe()
        if prober is None:
            return
        started = time.perf_counter()
        try:
            output = await prober.probe(host.name, timeout=self._config().monitor.timeout)
            reading = parse_probe(output, host.units)
        except (ToolError, ProbeParseError) as exc:
            state.failures += 1
            state.error = str(exc)
            log.warning("monitor.probe_failed", host=host.name, error=str(exc))
            await self._reachability(host, state)
            return
        state.seconds = time.perf_counter() - started
        state.values = metrics(reading, state.reading)
        state.reading, state.at, state.failures, state.error = reading, now, 0, ""
        await self._reachability(host, state)
        await self._store.add(host.name, now, state.values)
        await self._check(host, state.values, now)

    async def _reachability(self, host: SSHHost, state: HostState) -> None:
        key = f"monitor:{host.name}:unreachable"
        config = self._config().monitor
        if state.failures >= config.unreachable_after and not state.unreachable:
            state.unreachable = True
            alert = Alert(
                key=key,
                severity=Severity(config.unreachable_severity),
                title=text.unreachable_title(),
                detail=state.error,
                host=host.name,
            )
            await self._alerts().fire(alert)
        elif state.failures == 0 and state.unreachable:
            state.unreachable = False
            await self._alerts().resolve(key, text.reachable_again(host.name))

    async def _check(self, host: SSHHost, values: dict[str, float], now: float) -> None:
        for rule in rules_for(self._config().monitor.rules, host):
            value = values.get(rule.metric)
            if value is None:
                continue
            key = alert_key(host.name, rule)
            state = self._rules.setdefault((host.name, key), RuleState())
            since = state.since
            change = step(rule, state, value, now)
            if change is Change.FIRE:
                span = max(3600.0, 4 * rule.for_seconds)
                chart = await self._chart(host.name, rule.metric, now, span, rule.threshold)
                await self._alerts().fire(
                    Alert(
                        key=key,
                        severity=Severity(rule.severity),
                        title=text.fired_title(rule, value),
                        detail=text.fired_detail(rule, value, now - (since or now)),
                        host=host.name,
                        files=(chart,) if chart is not None else (),
                    )
                )
                if rule.action:
                    self._start_action(host.name, rule.action, text.action_reason(host.name, rule))
            elif change is Change.RESOLVE:
                await self._alerts().resolve(key, text.resolved(host.name, rule, value))

    def _start_action(self, host: str, command: str, reason: str) -> None:
        runner = self._action()
        if runner is None:
            log.warning("monitor.action_unavailable", host=host)
            return

        async def act() -> None:
            try:
                report = await runner.run_action(host, command, reason=reason)
            except AssistantError as exc:
                log.warning("monitor.action_failed", host=host, error=str(exc))
                return
            log.info("monitor.action", host=host, report=report[:200])

        task = asyncio.create_task(act())
        self._actions.add(task)
        task.add_done_callback(self._actions.discard)
