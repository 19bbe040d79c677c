"""The assistant alerts about itself, through the same sink and routes: a chat channel or an
MCP server not ready for ``down_after`` seconds (their states on /readyz), no model answering
(every model request since the last look failed), the state disk nearly full, the newest
backup older than ``backup_max_age_days``. Each condition has a stable key (``self:…``) and
resolves when it no longer holds."""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from assistant.core.health import ComponentState, Health
from assistant.core.i18n import N_
from assistant.core.metrics import Metrics
from assistant.core.ports import Alert, Clock, Severity

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.features.alerts.service import AlertService

_OK = (ComponentState.READY, ComponentState.DEGRADED, ComponentState.STOPPED)


class Usage(NamedTuple):
    total: int
    used: int
    free: int


DiskUsage = Callable[[Path], Usage]


def _disk_usage(path: Path) -> Usage:
    found = shutil.disk_usage(path)
    return Usage(found.total, found.used, found.free)


class SelfWatch:
    def __init__(
        self,
        *,
        sink: AlertService,
        health: Health,
        metrics: Metrics,
        config: Callable[[], Config],
        clock: Clock,
        disk_usage: DiskUsage = _disk_usage,
    ) -> None:
        self._sink = sink
        self._health = health
        self._metrics = metrics
        self._config = config
        self._clock = clock
        self._disk_usage = disk_usage
        self._bad_since: dict[str, float] = {}
        self._models: tuple[float, float] | None = None  # requests, errors at the last look

    def interval(self) -> float:
        return self._config().alerts.check_interval

    async def check(self) -> None:
        config = self._config()
        if not config.alerts.self_alerts:
            return
        host = config.assistant.name
        await self._components(host)
        await self._models_answer(host)
        await self._disk(host, config.assistant.state_dir)
        await self._backups(host)

    async def _components(self, host: str) -> None:
        now = self._clock.time()
        down_after = self._config().alerts.down_after
        states = self._health.snapshot()
        for name, status in states.items():
            kind = name.split(".", 1)[0]
            if kind not in ("channel", "mcp"):
                continue
            key = f"self:{name}"
            if ComponentState(status["state"]) in _OK:
                self._bad_since.pop(name, None)
                await self._sink.resolve(
                    key,
                    N_("The channel serves again.")
                    if kind == "channel"
                    else N_("The MCP server answers again."),
                )
                continue
            since = self._bad_since.setdefault(name, now)
            if now - since < down_after:
                continue
            params = {
                "name": name.split(".", 1)[1],
                "state": status["state"],
                "reason": str(status.get("detail", ""))[:200] or "-",
                "minutes": str(round((now - since) / 60)),
            }
            await self._sink.fire(
                Alert(
                    key=key,
                    severity=Severity.CRITICAL if kind == "channel" else Severity.WARNING,
                    title=N_("Chat channel {name} is down")
                    if kind == "channel"
                    else N_("MCP server {name} is down"),
                    detail=N_("Not ready for {minutes} min ({state}: {reason})."),
                    host=host,
                    source="self",
                ),
                params,
            )

    def _model_counts(self) -> tuple[float, float]:
        requests = errors = 0.0
        for family in self._metrics.registry.collect():
            if family.name == "assistant_model_request_seconds":
                requests += sum(s.value for s in family.samples if s.name.endswith("_count"))
            elif family.name == "assistant_model_errors":
                errors += sum(s.value for s in family.samples if s.name.endswith("_total"))
        return requests, errors

    async def _fire(
        self,
        key: str,
        severity: Severity,
        title: str,
        detail: str,
        host: str,
        params: dict[str, str],
    ) -> None:
        alert = Alert(key, severity, title, detail, host=host, source="self")
        await self._sink.fire(alert, params)

    async def _models_answer(self, host: str) -> None:
        counts = self._model_counts()
        before, self._models = self._models, counts
        if before is None:
            return
        requests, errors = counts[0] - before[0], counts[1] - before[1]
        if requests <= 0:
            return  # nobody asked: nothing learned
        if errors < requests:
            await self._sink.resolve("self:models", N_("A model answered again."))
            return
        await self._fire(
            "self:models",
            Severity.CRITICAL,
            N_("No model answers"),
            N_("All {count} model requests since the last look failed."),
            host,
            {"count": str(int(requests))},
        )

    async def _disk(self, host: str, state_dir: Path) -> None:
        limit = self._config().alerts.disk_free_percent
        if limit <= 0:
            return
        usage = self._disk_usage(state_dir)
        free = 100.0 * usage.free / usage.total if usage.total else 100.0
        if free >= limit:
            await self._sink.resolve("self:disk", N_("The state disk has room again."))
            return
        await self._fire(
            "self:disk",
            Severity.CRITICAL,
            N_("The state disk is nearly full"),
            N_("{free} free on {path} ({mb} MB left)."),
            host,
            {"free": f"{free:.1f}%", "path": str(state_dir), "mb": str(usage.free // 2**20)},
        )

    async def _backups(self, host: str) -> None:
        alerts = self._config().alerts
        if alerts.backups is None:
            return
        newest: tuple[float, str] | None = None
        for path in glob.glob(alerts.backups):
            try:
                newest = max(newest or (0.0, ""), (os.stat(path).st_mtime, path))
            except OSError:
                continue
        now = self._clock.time()
        if newest is not None and now - newest[0] <= alerts.backup_max_age_days * 86400:
            await self._sink.resolve("self:backup", N_("A recent backup exists again."))
            return
        if newest is None:
            detail, params = N_("No file matches {pattern}."), {"pattern": alerts.backups}
        else:
            detail = N_("The newest backup, {path}, is {days} days old.")
            params = {"path": newest[1], "days": f"{(now - newest[0]) / 86400:.1f}"}
        await self._fire(
            "self:backup", Severity.WARNING, N_("Backups are too old"), detail, host, params
        )
