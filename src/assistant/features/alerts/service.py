"""The alert sink: state changes in, notices out along the routes of each severity.

``fire`` and ``resolve`` record the change and return; one loop on the clock sends what is
due. A warning goes to every ``warning`` route once. A critical alert goes to the first
``critical`` route, and to the next one every ``ack_timeout`` until someone acknowledges it.
Nothing is sent for an alert while a silence matches its host or key (it is recorded, and
sent if it still fires when the silence ends), nor while it flaps (fired again within
``cooldown`` of a resolve that was sent). A resolve or an acknowledgement is told to the
routes the alert reached. Every step is stored before it is sent (with the alert's pictures,
bounded): after a restart the loop goes on where it stood, chart included, and nothing is sent
twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from fnmatch import fnmatchcase
from types import TracebackType
from typing import TYPE_CHECKING

import structlog

from assistant.core.i18n import tr
from assistant.core.ports import Alert, Clock, Severity, within
from assistant.core.text import known_id
from assistant.features.alerts.render import Event, Notice
from assistant.features.alerts.state import (
    AlertRow,
    AlertStore,
    Pending,
    Silence,
    Status,
    kept_files,
)

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.features.alerts.routes import Routes
    from assistant.store.audit import AuditLog

log = structlog.get_logger(__name__)

KEEP = 30 * 86400.0  # seconds resolved alerts and ended silences are kept
_IDLE = 60.0  # the loop looks at the state at least this often


class AlertService:
    def __init__(
        self,
        *,
        store: AlertStore,
        routes: Routes,
        audit: AuditLog,
        config: Callable[[], Config],
        clock: Clock,
    ) -> None:
        self._store = store
        self._routes = routes
        self._audit = audit
        self._config = config
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._periodic: list[tuple[Callable[[], float], Callable[[], Awaitable[None]]]] = []
        self._next_run: dict[int, float] = {}
        self.every(lambda: 86400.0, self._prune)

    async def __aenter__(self) -> AlertService:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def every(self, interval: Callable[[], float], work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` in the loop every ``interval()`` seconds of clock time (self-checks)."""
        self._periodic.append((interval, work))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="alerts")

    # --- the sink ------------------------------------------------------------------------

    async def fire(self, alert: Alert, params: dict[str, str] | None = None) -> None:
        """``params``: the placeholders of a title and detail that are catalog messages
        (self-alerts), so each recipient reads them in their language."""
        row, news = await self._store.fire(alert, params, self._clock.time())
        if news and len(kept_files(alert.files)) < len(alert.files):
            log.warning("alerts.files_dropped", alert=row.id, files=len(alert.files))
        if news:
            log.info("alerts.fired", alert=row.id, key=row.key, severity=row.severity.value)
            self._wake.set()

    async def resolve(self, key: str, detail: str) -> None:
        row = await self._store.resolve(key, detail, self._clock.time())
        if row is not None:
            log.info("alerts.resolved", alert=row.id, key=key, told=row.pending is not None)
            self._wake.set()

    # --- people --------------------------------------------------------------------------

    async def acknowledge(
        self, alert_id: int, by: str, by_name: str
    ) -> tuple[str, AlertRow | None]:
        """(the answer for the person, the alert as it is now, if there is one)."""
        if not known_id(alert_id):
            return tr("There is no alert #{id}.").format(id=alert_id), None
        now = self._clock.time()
        row = await self._store.acknowledge(alert_id, by_name or by, now)
        if row is None:
            existing = await self._store.get(alert_id)
            if existing is None:
                return tr("There is no alert #{id}.").format(id=alert_id), None
            if existing.status is Status.ACKNOWLEDGED:
                answer = tr("Alert #{id} was already acknowledged by {name}.")
                return answer.format(id=alert_id, name=existing.acked_by), existing
            return tr("Alert #{id} is already resolved.").format(id=alert_id), existing
        await self._audit.append(
            "alert.acknowledged",
            by,
            id=row.id,
            key=row.key,
            severity=row.severity.value,
            routes_reached=row.notified,
            after=round(now - row.fired_at, 1),
        )
        self._wake.set()
        answer = tr("Alert #{id} acknowledged: it will not escalate further.")
        return answer.format(id=alert_id), row

    async def silence(self, pattern: str, seconds: float, by: str) -> Silence:
        now = self._clock.time()
        found = await self._store.silence(pattern, now + seconds, by, now)
        await self._audit.append(
            "alert.silenced", by, id=found.id, pattern=pattern, until=found.until, seconds=seconds
        )
        return found

    async def unsilence(self, silence_id: int, by: str) -> Silence | None:
        if not known_id(silence_id):
            return None
        now = self._clock.time()
        found = await self._store.unsilence(silence_id, now)
        if found is not None:
            await self._audit.append("alert.unsilenced", by, id=found.id, pattern=found.pattern)
            await self._store.release(f"silence:{found.id}", now)
            self._wake.set()
        return found

    async def silences(self) -> list[Silence]:
        return await self._store.silences(self._clock.time())

    async def open(self) -> list[AlertRow]:
        return await self._store.open()

    # --- the loop ------------------------------------------------------------------------

    async def _prune(self) -> None:
        await self._store.prune(self._clock.time() - KEEP)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.step()
                await self._run_periodic()
            except Exception:  # a state error now must not end alerting for good
                log.exception("alerts.step_failed")
            delay = await self._delay()
            if delay > 0:
                await within(self._clock, delay, self._wake.wait())

    async def _run_periodic(self) -> None:
        now = self._clock.time()
        for index, (interval, work) in enumerate(self._periodic):
            if now >= self._next_run.get(index, now):
                self._next_run[index] = now + interval()
                await work()

    async def _delay(self) -> float:
        next_at = await self._store.next_due()
        now = self._clock.time()  # after the query: the clock may have moved meanwhile
        due = [now + _IDLE, *self._next_run.values()]
        if next_at is not None:
            due.append(next_at)
        return max(0.0, min(due) - now)

    async def step(self) -> None:
        """Send what is due now."""
        now = self._clock.time()
        for row in await self._store.due(now):
            if row.pending is not None:
                await self._tell(row)
            else:
                await self._advance(row, now)

    def _chain(self, severity: Severity) -> list[str]:
        alerts = self._config().alerts
        return list(alerts.critical if severity is Severity.CRITICAL else alerts.warning)

    async def _tell(self, row: AlertRow) -> None:
        """A resolve or an acknowledgement, to the routes the alert reached."""
        if not await self._store.take_pending(row):
            return  # replaced meanwhile (a resolve after an ack): the next step sends that
        chain = self._chain(row.severity)
        event = Event.RESOLVE if row.pending is Pending.RESOLVE else Event.ACK
        for name in chain[: row.notified]:
            await self._routes.send(name, Notice(event, row, routes=len(chain)), ())

    async def _held(self, row: AlertRow, now: float) -> tuple[float, str] | None:
        """(until when, why) nothing may be sent for ``row`` now, or None."""
        for silence in await self._store.silences(now):
            if fnmatchcase(row.key, silence.pattern) or (
                row.host is not None and fnmatchcase(row.host, silence.pattern)
            ):
                return silence.until, f"silence:{silence.id}"
        if row.notified == 0:
            last = await self._store.last_resolved(row.key)
            cooldown = self._config().alerts.cooldown
            resolved = last.resolved_at if last is not None else None
            if resolved is not None and now < resolved + cooldown:
                return resolved + cooldown, "cooldown"
        return None

    async def _advance(self, row: AlertRow, now: float) -> None:
        chain = self._chain(row.severity)
        if row.notified >= len(chain):
            await self._store.reschedule(row.id, None, row.held_by)
            if not chain:
                log.warning("alerts.no_route", alert=row.id, severity=row.severity.value)
            return
        held = await self._held(row, now)
        if held is not None:
            until, why = held
            await self._store.reschedule(row.id, until, why)
            if row.held_by != why:
                log.info("alerts.held", alert=row.id, key=row.key, why=why, until=until)
            return
        ack_timeout = self._config().alerts.ack_timeout
        if row.severity is Severity.CRITICAL:
            names = [chain[row.notified]]
            notified = row.notified + 1
            next_at: float | None = now + ack_timeout if notified < len(chain) else None
        else:
            names, notified, next_at = chain, len(chain), None
        if not await self._store.advance(row, notified, next_at):
            return  # acknowledged, resolved or fired anew since it was read
        event = Event.FIRE if row.notified == 0 else Event.ESCALATE
        if event is Event.ESCALATE:
            await self._audit.append(
                "alert.escalated",
                "alerts",
                id=row.id,
                key=row.key,
                route=names[0],
                step=notified,
                routes=len(chain),
            )
        files = await self._store.files(row.id)
        reached = False
        for name in names:
            notice = Notice(event, row, notified, len(chain), ack_timeout)
            reached = await self._routes.send(name, notice, files) or reached
        if not reached and next_at is not None:  # nobody heard it: the next route now
            await self._store.reschedule(row.id, now)
            self._wake.set()
