"""SchedulerService: create, list and cancel jobs; fire them through the router.

The jobs table is the only store: each active row holds its schedule and its next fire time
(``timing``: APScheduler's trigger classes compute them). One ``Timer`` on the injected clock
sleeps until the earliest next fire of the jobs this process serves, fires what is due (each
job in a task of its own, one firing per job at a time), and sleeps again; creating a job
wakes it. A job's next fire time moves on only after its firing was handed to the router, so
a crash in between fires it again at start with the same id, and the inbox drops the repeat.

Every firing enters ``Router.submit`` as a SCHEDULED message from the job's creator in the chat
that created it, with a platform id unique per firing (job id + due time), so a double fire is
answered once. Runs missed while the assistant was down are coalesced into one (the last one
due); a run later than ``misfire_grace`` is reported as missed, never silently dropped; a run
later than a minute says it is late.

Each process fires the jobs of the channels it serves (the daemon: its chat platforms;
``assistant chat``: the console), under a lock of its own (``files.FiringLock``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Collection, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from assistant.config import SchedulerSection
from assistant.core import i18n
from assistant.core.errors import IntakeClosed, StateError
from assistant.core.i18n import N_, tr
from assistant.core.messages import ChatRef, InboundMessage, MessageKind, Sender
from assistant.core.ports import Clock, CommandRunner, InboundHandler, SubmitOutcome, SystemClock
from assistant.core.roles import Permission
from assistant.scheduler import checks
from assistant.scheduler.files import FiringLock, take_legacy_store
from assistant.scheduler.jobs import JobTable
from assistant.scheduler.timer import Timer
from assistant.scheduler.timing import (
    build_trigger,
    catch_up,
    fire_after,
    first_fire,
    planned_fire,
)
from assistant.scheduler.types import (
    AgentJob,
    AnyTask,
    At,
    Check,
    CommandCheck,
    Cron,
    Every,
    HttpCheck,
    Job,
    JobRefused,
    MetricCheck,
    Reminder,
    TlsCheck,
    describe_task,
    is_dst_repeat,
    zone_of,
)
from assistant.scheduler.webchecks import WebChecks
from assistant.store.db import Database

log = structlog.get_logger(__name__)

LATE_AFTER = 60.0  # seconds: a run later than this says it is late
RETRY_AFTER = 60.0  # seconds: a job whose firing failed is tried again after this
NO_SSH = N_(
    "Command checks run over SSH, and no SSH hosts are configured; add hosts to the config "
    "first, or use a metric check (cpu, memory, disk, load)."
)
# what a check's notice starts with: it failed, it recovered, or someone asked for a run
ALERT = N_("🔴 Alert (check {id}): {detail}.")
RECOVERED = N_("🟢 OK (check {id}): {detail}.")
CHECKED = N_("Check {id}: {detail}.")
LocaleOf = Callable[[str, str], Awaitable[str]]  # (channel, user_id) → that person's locale


class SchedulerService:
    def __init__(
        self,
        *,
        db: Database,
        state_dir: Path,
        name: str = "jobs",
        submit: InboundHandler,
        channels: Callable[[], Collection[str]],
        settings: SchedulerSection,
        timezone: str,
        runner: CommandRunner | None = None,
        clock: Clock | None = None,
        check_timeout: float = 60.0,
        locale_of: LocaleOf | None = None,
        web: WebChecks | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self.table = JobTable(db, self._clock)
        self._lock = FiringLock(state_dir / f"{name}.lock")
        self._legacy = state_dir / f"{name}.db"  # APScheduler's store before issue 14
        self._timer = Timer(self._clock, self._process)
        self._submit = submit
        self._channels = channels
        self._runner = runner
        self._check_timeout = check_timeout
        self._locale_of = locale_of  # a firing is written in its creator's language
        self._web = web  # HTTP and TLS checks (None: not available)
        self._firings: dict[str, asyncio.Task[None]] = {}  # job id (or run:id) → its firing
        self.configure(settings, timezone)

    def configure(self, settings: SchedulerSection, timezone: str) -> None:
        self._settings = settings
        self._timezone = timezone

    @property
    def running(self) -> bool:
        return self._timer.running

    @property
    def busy(self) -> frozenset[str]:
        """The jobs being fired right now (``run:ID``: a run on request)."""
        return frozenset(self._firings)

    async def __aenter__(self) -> SchedulerService:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._timer.stop()
        firings = list(self._firings.values())
        for task in firings:
            task.cancel()
        await asyncio.gather(*firings, return_exceptions=True)
        self._lock.release()

    async def start(self) -> bool:
        """Start firing jobs (after the router's channels are in place). False when another
        process fires this kind's jobs: jobs are still stored, and fired by that process."""
        try:
            await asyncio.to_thread(self._lock.acquire)
        except StateError as exc:
            log.warning("scheduler.not_started", reason=str(exc))
            return False
        if legacy := await asyncio.to_thread(take_legacy_store, self._legacy):
            await self.table.plan_unplanned(legacy)
        self._timer.start()
        log.info("scheduler.started", lock=str(self._lock.path))
        return True

    # --- creating and cancelling ------------------------------------------------------------

    async def create(
        self,
        chat: ChatRef,
        sender: Sender,
        schedule: At | Every | Cron,
        task: AnyTask,
        timezone: str | None = None,
        *,
        permissions: Collection[Permission] | None = None,
    ) -> tuple[Job, datetime | None]:
        """Validate and store a job; returns it with its first run time. ``permissions``:
        the creator's, for the tasks that need more than ``schedule`` (HTTP and TLS checks
        need ``web.read``; unknown permissions refuse them)."""
        zone_name = timezone or self._timezone
        try:
            zone = zone_of(zone_name)
        except ValueError as exc:
            raise JobRefused(str(exc)) from None
        schedule = self._normalize(schedule, zone)
        self._check_task(schedule, task)
        if isinstance(task, HttpCheck | TlsCheck):
            web_refusal = self._web.refusal(task, permissions) if self._web else None
            if self._web is None or web_refusal is not None:
                raise JobRefused(web_refusal or tr("HTTP and TLS checks are not available here."))
        if isinstance(task, CommandCheck) and self._runner is not None:
            refusal = await self._runner.refusal(
                task.host, task.command, f"{chat.channel}:{sender.user_id}"
            )
            if refusal is not None:
                raise JobRefused(
                    tr("This check cannot run unattended: {refusal}.").format(refusal=refusal)
                )
        settings = self._settings
        if (
            await self.table.count_active(chat.channel, sender.user_id)
            >= settings.max_jobs_per_user
        ):
            raise JobRefused(
                tr(
                    "You already have {count} active jobs, the most allowed; cancel one first "
                    "(/jobs lists them)."
                ).format(count=settings.max_jobs_per_user)
            )
        now = self._clock.time()
        first = first_fire(schedule, zone, now)
        if first is None:
            raise JobRefused(tr("That schedule never fires."))
        for _ in range(5):
            job = Job(
                id=secrets.token_hex(3),
                chat=chat,
                sender=sender,
                timezone=zone_name,
                schedule=schedule,
                task=task,
                created_at=now,
                next_fire=first,
            )
            if await self.table.insert(job):
                break
        else:  # pragma: no cover - five random collisions in a row
            raise JobRefused(tr("Could not pick a free job id; please try again."))
        log.info("scheduler.created", job=job.id, kind=task.type, schedule=schedule.type)
        self._timer.poke()
        return job, datetime.fromtimestamp(first, UTC)

    def _normalize(self, schedule: At | Every | Cron, zone: ZoneInfo) -> At | Every | Cron:
        now = datetime.fromtimestamp(self._clock.time(), UTC)
        if isinstance(schedule, At):
            at = schedule.time if schedule.time.tzinfo else schedule.time.replace(tzinfo=zone)
            if at <= now:
                local = at.astimezone(zone)
                raise JobRefused(
                    tr("{time} ({zone}) is in the past.").format(
                        time=f"{local:%Y-%m-%d %H:%M}", zone=zone.key
                    )
                )
            return At(time=at)
        if isinstance(schedule, Every):
            if schedule.seconds < self._settings.min_interval:
                raise JobRefused(
                    tr("The shortest allowed interval is {seconds:g} seconds.").format(
                        seconds=self._settings.min_interval
                    )
                )
            start = schedule.start or now
            return Every(
                seconds=schedule.seconds,
                start=start if start.tzinfo else start.replace(tzinfo=zone),
            )
        try:
            build_trigger(schedule, zone)
        except ValueError as exc:
            raise JobRefused(
                tr("Invalid cron expression {expr!r}: {error}").format(
                    expr=schedule.expr, error=exc
                )
            ) from None
        return schedule

    def _check_task(self, schedule: At | Every | Cron, task: AnyTask) -> None:
        if isinstance(task, Check) and isinstance(schedule, At):
            raise JobRefused(
                tr("A check needs a recurring schedule (every … or a cron expression).")
            )
        if isinstance(task, CommandCheck):
            hosts = self._runner.hosts() if self._runner is not None else []
            if not hosts:
                raise JobRefused(tr(NO_SSH))
            if task.host not in hosts:
                raise JobRefused(
                    tr("Unknown SSH host {host!r}; known: {hosts}.").format(
                        host=task.host, hosts=", ".join(hosts)
                    )
                )
        if isinstance(task, MetricCheck) and task.metric == "disk" and not os.path.isdir(task.path):
            raise JobRefused(
                tr("There is no directory {path!r} on this machine.").format(path=task.path)
            )

    async def cancel(self, job_id: str, chat: ChatRef, sender: Sender, *, admin: bool) -> Job:
        """Cancel a job of this chat (or one the sender created); admins may cancel any."""
        job = await self.table.get(job_id.strip().lower())
        visible = job is not None and (
            job.chat.key == chat.key
            or (job.chat.channel == chat.channel and job.sender.user_id == sender.user_id)
            or admin
        )
        if job is None or not visible or job.status not in ("active", "paused"):
            raise JobRefused(
                tr("There is no active job {id!r} here; /jobs lists this chat's jobs.").format(
                    id=job_id
                )
            )
        if job.sender.user_id != sender.user_id and not admin:
            raise JobRefused(
                tr(
                    "Job {id} was created by someone else; only they or an admin can cancel it."
                ).format(id=job.id)
            )
        await self.table.finish(job.id, "cancelled")
        self._timer.poke()
        log.info("scheduler.cancelled", job=job.id)
        return job

    async def set_paused(self, job_id: str, paused: bool) -> bool:
        """Pause a job (it does not fire until resumed) or resume it; False: not possible."""
        if not await self.table.set_paused(job_id, paused):
            return False
        self._timer.poke()
        log.info("scheduler.paused" if paused else "scheduler.resumed", job=job_id)
        return True

    async def request_run(self, job_id: str) -> bool:
        """Run an active job once, soon, its schedule unchanged (False: no such job)."""
        if not await self.table.request_run(job_id):
            return False
        self._timer.poke()
        return True

    async def next_runs(self) -> dict[str, datetime | None]:
        """The jobs this process fires, by id, with their next fire time (empty when it does
        not fire jobs)."""
        if not self.running:
            return {}
        jobs = await self.table.find(channels=list(self._channels()))
        return {job.id: _when(planned_fire(job)) for job in jobs}

    async def jobs_in(self, chat: ChatRef) -> list[tuple[Job, datetime | None]]:
        return [(job, _when(planned_fire(job))) for job in await self.table.find(chat=chat)]

    # --- firing --------------------------------------------------------------------------------

    async def _process(self) -> float | None:
        """The timer's round: start what is due; returns when the next job is due."""
        served = list(self._channels())
        now = self._clock.time()
        for job, requested in await self.table.take_run_requests(served):
            self._spawn(f"run:{job.id}", self.fire(job.id, requested, manual=True))
        for job in await self.table.unplanned(served):
            await self.table.plan(job.id, planned_fire(job))
        for job in await self.table.due(served, now, busy=list(self._firings)):
            assert job.next_fire is not None
            due, _ = catch_up(job.schedule, ZoneInfo(job.timezone), job.next_fire, now)
            self._spawn(job.id, self._fire_planned(job, due))
        return await self.table.earliest(served, busy=list(self._firings))

    def _spawn(self, key: str, firing: Coroutine[Any, Any, None]) -> None:
        if key in self._firings:
            firing.close()  # one firing per job at a time
            return
        task = asyncio.create_task(firing, name=f"scheduler.fire:{key}")
        self._firings[key] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._firings.get(key) is finished:
                del self._firings[key]
            self._timer.poke()

        task.add_done_callback(done)

    async def _fire_planned(self, job: Job, due: float) -> None:
        try:
            await self.fire(job.id, due)
        except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the others
            log.error("scheduler.fire_failed", job=job.id, error=str(exc))
            if not isinstance(job.schedule, At):  # a repeating job goes on with its next run
                upcoming = fire_after(job.schedule, ZoneInfo(job.timezone), due)
                try:
                    await self.table.plan(job.id, upcoming)
                except StateError as again:
                    log.error("scheduler.plan_failed", job=job.id, error=str(again))
            await self._clock.sleep(RETRY_AFTER)  # holds the job's slot: no retry before

    async def fire(self, job_id: str, due: float, *, manual: bool = False) -> None:
        """Run the firing of ``job_id`` due at ``due``, then move its next fire time past it
        (``manual``: a run on request, which leaves the schedule alone)."""
        job = await self.table.get(job_id)
        if job is None or job.status != "active":
            return  # cancelled meanwhile (by the command line, say)
        if job.chat.channel not in self._channels():
            log.warning("scheduler.no_channel", job=job.id, channel=job.chat.channel)
            return
        upcoming = None if manual else fire_after(job.schedule, ZoneInfo(job.timezone), due)
        if upcoming is not None and job.next_fire is not None:
            upcoming = max(upcoming, job.next_fire)  # an old firing again never moves it back
        if not manual and is_dst_repeat(job.schedule, job.timezone, job.last_due, due):
            log.info("scheduler.dst_repeat_skipped", job=job.id)
            await self.table.plan(job.id, upcoming)
            return
        now = self._clock.time()
        try:
            await self._run(job, due, now - due, manual)
        except IntakeClosed:  # shutting down: the job keeps its time and runs at start
            log.info("scheduler.deferred", job=job.id)
            return
        if manual:
            await self.table.record_run(job.id, now, due)
        else:
            await self.table.record_firing(job.id, now, due, upcoming)

    async def _run(self, job: Job, due: float, late: float, manual: bool) -> None:
        """Hand one firing to the router. It answers no message, so what the assistant writes
        itself (the reminder's words, an alert) is in its creator's language."""
        locale = None
        if self._locale_of is not None:
            locale = await self._locale_of(job.chat.channel, job.sender.user_id)
        with i18n.using(locale):
            task = job.task
            if isinstance(task, Check):
                await self._check(job, task, due, manual)
                return
            when = datetime.fromtimestamp(due, ZoneInfo(job.timezone)).strftime("%Y-%m-%d %H:%M")
            missed = late > self._settings.misfire_grace and not manual
            text, run = _firing(job.id, task, when, 0.0 if manual else late, missed)
            await self._deliver(job, due, text, run, manual)

    async def _check(self, job: Job, task: Check, due: float, manual: bool) -> None:
        if isinstance(task, MetricCheck):
            seen = await checks.observe_metric(task)
        elif isinstance(task, HttpCheck | TlsCheck):
            if self._web is None:
                unavailable = tr("HTTP and TLS checks are not available here.")
                seen = checks.Observation(True, None, unavailable)
            else:
                seen = await self._web.observe(task, job.chat.channel, job.sender.user_id)
        else:
            actor = f"{job.chat.channel}:{job.sender.user_id}"
            seen = await checks.observe_command(task, self._runner, self._check_timeout, actor)
        now = self._clock.time()
        decision = checks.decide(
            job.check_state, seen.failing, job.last_alert_at, now, self._settings.check_cooldown
        )
        log.info("scheduler.checked", job=job.id, failing=seen.failing, notify=decision.notify)
        last_notice = job.last_alert_at
        if decision.notify or manual:
            notice = ALERT if seen.failing else RECOVERED if decision.notify else CHECKED
            text = tr(notice).format(id=job.id, detail=seen.detail)
            await self._deliver(job, due, text, "notice", manual)
            last_notice = now if decision.notify else last_notice
        await self.table.set_check(job.id, decision.state, seen.value, last_notice)

    async def _deliver(self, job: Job, due: float, text: str, run: str, manual: bool) -> None:
        firing = f"run:{due:.3f}" if manual else f"{due:.3f}"
        message = InboundMessage(
            chat=job.chat,
            sender=job.sender,
            text=text,
            platform_id=f"job:{job.id}:{firing}",
            kind=MessageKind.SCHEDULED,
            meta={"job": job.id, "run": run},
        )
        outcome = await self._submit(message)
        if outcome is SubmitOutcome.IGNORED:
            log.warning("scheduler.refused", job=job.id, reason="creator or chat lost access")


def _firing(
    job_id: str, task: Reminder | AgentJob, when: str, late: float, missed: bool
) -> tuple[str, str]:
    """What a firing hands to the router: (its text, "notice" to deliver | "turn" to run)."""
    if isinstance(task, AgentJob):
        if missed:
            text = tr("Missed scheduled job {id} ({task}): it was due at {time} and was not run.")
            return text.format(id=job_id, task=describe_task(task), time=when), "notice"
        return f"[Scheduled job {job_id}] {task.prompt}", "turn"  # the model's: not translated
    if missed:
        text = tr("Missed reminder: {text} — it was due at {time}.")
    elif late > LATE_AFTER:
        text = tr("⏰ Reminder: {text} (late: was due at {time})")
    else:
        text = tr("⏰ Reminder: {text}")
    return text.format(text=task.text, time=when), "notice"


def _when(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)
