"""SchedulerService: create, list and cancel jobs; fire them through the router.

Every firing enters ``Router.submit`` as a SCHEDULED message from the job's creator in the chat
that created it, with a platform id unique per firing (job id + due time), so a double fire is
answered once. A run later than ``misfire_grace`` (after a restart) is reported as missed,
never silently dropped; a run later than a minute says it is late.

Each process runs the engine for the channels it serves (the daemon: its chat platforms;
``assistant chat``: the console), each over its own APScheduler store file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from zoneinfo import ZoneInfo

import structlog

from assistant.config import SchedulerSection
from assistant.core.errors import IntakeClosed, StateError
from assistant.core.messages import ChatRef, InboundMessage, MessageKind, Sender
from assistant.core.ports import Clock, CommandRunner, InboundHandler, SubmitOutcome, SystemClock
from assistant.scheduler import checks
from assistant.scheduler.engine import Engine, build_trigger, next_fire
from assistant.scheduler.jobs import JobTable
from assistant.scheduler.types import (
    AgentJob,
    At,
    CommandCheck,
    Cron,
    Every,
    Job,
    JobRefused,
    MetricCheck,
    Reminder,
    describe_task,
    is_dst_repeat,
    zone_of,
)
from assistant.store.db import Database

log = structlog.get_logger(__name__)

LATE_AFTER = 60.0  # seconds: a run later than this says it is late
NO_SSH = (
    "Command checks run over SSH, and no SSH hosts are configured; add hosts to the config "
    "first, or use a metric check (cpu, memory, disk, load)."
)


class SchedulerService:
    def __init__(
        self,
        *,
        db: Database,
        store_path: Path,
        submit: InboundHandler,
        channels: Callable[[], Collection[str]],
        settings: SchedulerSection,
        timezone: str,
        runner: CommandRunner | None = None,
        clock: Clock | None = None,
        check_timeout: float = 60.0,
    ) -> None:
        self.table = JobTable(db)
        self._engine = Engine(store_path, self)
        self._submit = submit
        self._channels = channels
        self._runner = runner
        self._clock = clock or SystemClock()
        self._check_timeout = check_timeout
        self._firing: set[str] = set()  # jobs being run now: reconciliation leaves them be
        self.configure(settings, timezone)

    def configure(self, settings: SchedulerSection, timezone: str) -> None:
        self._settings = settings
        self._timezone = timezone

    @property
    def running(self) -> bool:
        return self._engine.running

    async def __aenter__(self) -> SchedulerService:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._engine.stop()

    async def start(self) -> bool:
        """Start firing jobs (after the router's channels are in place). False when another
        process runs this store's engine: jobs are still stored, and fired by that process."""
        try:
            await self._engine.start()
        except StateError as exc:
            log.warning("scheduler.not_started", reason=str(exc))
            return False
        await self.reconcile()
        log.info("scheduler.started", store=str(self._engine.path))
        return True

    # --- creating and cancelling ------------------------------------------------------------

    async def create(
        self,
        chat: ChatRef,
        sender: Sender,
        schedule: At | Every | Cron,
        task: Reminder | AgentJob | MetricCheck | CommandCheck,
        timezone: str | None = None,
    ) -> tuple[Job, datetime | None]:
        """Validate and store a job; returns it with its first run time."""
        zone_name = timezone or self._timezone
        try:
            zone = zone_of(zone_name)
        except ValueError as exc:
            raise JobRefused(str(exc)) from None
        schedule = self._normalize(schedule, zone)
        self._check_task(schedule, task)
        if isinstance(task, CommandCheck) and self._runner is not None:
            refusal = await self._runner.refusal(
                task.host, task.command, f"{chat.channel}:{sender.user_id}"
            )
            if refusal is not None:
                raise JobRefused(f"This check cannot run unattended: {refusal}.")
        settings = self._settings
        if (
            await self.table.count_active(chat.channel, sender.user_id)
            >= settings.max_jobs_per_user
        ):
            raise JobRefused(
                f"You already have {settings.max_jobs_per_user} active jobs, the most allowed; "
                "cancel one first (/jobs lists them)."
            )
        now = self._clock.time()
        for _ in range(5):
            job = Job(
                id=secrets.token_hex(3),
                chat=chat,
                sender=sender,
                timezone=zone_name,
                schedule=schedule,
                task=task,
                created_at=now,
            )
            if await self.table.insert(job):
                break
        else:  # pragma: no cover - five random collisions in a row
            raise JobRefused("Could not pick a free job id; please try again.")
        log.info("scheduler.created", job=job.id, kind=task.type, schedule=schedule.type)
        next_run = next_fire(schedule, zone, datetime.now(UTC))
        if self._engine.running and chat.channel in self._channels():
            next_run = await self._engine.put(job.id, schedule, zone)
        return job, next_run

    def _normalize(self, schedule: At | Every | Cron, zone: ZoneInfo) -> At | Every | Cron:
        now = datetime.fromtimestamp(self._clock.time(), UTC)
        if isinstance(schedule, At):
            at = schedule.time if schedule.time.tzinfo else schedule.time.replace(tzinfo=zone)
            if at <= now:
                local = at.astimezone(zone)
                raise JobRefused(f"{local:%Y-%m-%d %H:%M} ({zone.key}) is in the past.")
            return At(time=at)
        if isinstance(schedule, Every):
            if schedule.seconds < self._settings.min_interval:
                raise JobRefused(
                    f"The shortest allowed interval is {self._settings.min_interval:g} seconds."
                )
            start = schedule.start or now
            return Every(
                seconds=schedule.seconds,
                start=start if start.tzinfo else start.replace(tzinfo=zone),
            )
        try:
            build_trigger(schedule, zone)
        except ValueError as exc:
            raise JobRefused(f"Invalid cron expression {schedule.expr!r}: {exc}") from None
        return schedule

    def _check_task(
        self, schedule: At | Every | Cron, task: Reminder | AgentJob | MetricCheck | CommandCheck
    ) -> None:
        if isinstance(task, MetricCheck | CommandCheck) and isinstance(schedule, At):
            raise JobRefused("A check needs a recurring schedule (every … or a cron expression).")
        if isinstance(task, CommandCheck):
            hosts = self._runner.hosts() if self._runner is not None else []
            if not hosts:
                raise JobRefused(NO_SSH)
            if task.host not in hosts:
                raise JobRefused(f"Unknown SSH host {task.host!r}; known: {', '.join(hosts)}.")
        if isinstance(task, MetricCheck) and task.metric == "disk" and not os.path.isdir(task.path):
            raise JobRefused(f"There is no directory {task.path!r} on this machine.")

    async def cancel(self, job_id: str, chat: ChatRef, sender: Sender, *, admin: bool) -> Job:
        """Cancel a job of this chat (or one the sender created); admins may cancel any."""
        job = await self.table.get(job_id.strip().lower())
        visible = job is not None and (
            job.chat.key == chat.key
            or (job.chat.channel == chat.channel and job.sender.user_id == sender.user_id)
            or admin
        )
        if job is None or not visible or job.status != "active":
            raise JobRefused(
                f"There is no active job {job_id!r} here; /jobs lists this chat's jobs."
            )
        if job.sender.user_id != sender.user_id and not admin:
            raise JobRefused(
                f"Job {job.id} was created by someone else; only they or an admin can cancel it."
            )
        await self.table.finish(job.id, "cancelled")
        if self._engine.running:
            await self._engine.remove(job.id)
        log.info("scheduler.cancelled", job=job.id)
        return job

    async def next_runs(self) -> dict[str, datetime | None]:
        """What the engine has scheduled (empty when this process does not run it)."""
        return await self._engine.next_runs() if self._engine.running else {}

    async def jobs_in(self, chat: ChatRef) -> list[tuple[Job, datetime | None]]:
        jobs = await self.table.find(chat=chat)
        now = datetime.fromtimestamp(self._clock.time(), UTC)
        stored = await self.next_runs()
        return [
            (job, stored.get(job.id) or next_fire(job.schedule, ZoneInfo(job.timezone), now))
            for job in jobs
        ]

    # --- firing --------------------------------------------------------------------------------

    async def fire(self, job_id: str, due: float, *, manual: bool = False) -> None:
        job = await self.table.get(job_id)
        if job is None or job.status != "active":
            if self._engine.running and not manual:
                await self._engine.remove(job_id)  # cancelled elsewhere (the command line)
            return
        if job.chat.channel not in self._channels():
            log.warning("scheduler.no_channel", job=job.id, channel=job.chat.channel)
            return
        if not manual and is_dst_repeat(job.schedule, job.timezone, job.last_due, due):
            log.info("scheduler.dst_repeat_skipped", job=job.id)
            return
        now = self._clock.time()
        self._firing.add(job.id)
        try:
            await self._run(job, due, now - due, manual)
            await self.table.record_run(job.id, now, due)
            if isinstance(job.schedule, At) and not manual:
                await self.table.finish(job.id, "done")
        except IntakeClosed:  # shutting down: a one-off job stays active and runs at start
            log.info("scheduler.deferred", job=job.id)
        finally:
            self._firing.discard(job.id)

    async def _run(self, job: Job, due: float, late: float, manual: bool) -> None:
        when = datetime.fromtimestamp(due, ZoneInfo(job.timezone)).strftime("%Y-%m-%d %H:%M")
        missed = late > self._settings.misfire_grace and not manual
        task = job.task
        if isinstance(task, Reminder):
            if missed:
                text = f"Missed reminder: {task.text} — it was due at {when}."
            else:
                text = f"⏰ Reminder: {task.text}"
                if late > LATE_AFTER and not manual:
                    text += f" (late: was due at {when})"
            await self._deliver(job, due, text, "notice", manual)
        elif isinstance(task, AgentJob):
            if missed:
                text = (
                    f"Missed scheduled job {job.id} ({describe_task(task)}): it was due at "
                    f"{when} and was not run."
                )
                await self._deliver(job, due, text, "notice", manual)
            else:
                await self._deliver(
                    job, due, f"[Scheduled job {job.id}] {task.prompt}", "turn", manual
                )
        else:
            await self._check(job, task, due, manual)

    async def _check(
        self, job: Job, task: MetricCheck | CommandCheck, due: float, manual: bool
    ) -> None:
        if isinstance(task, MetricCheck):
            seen = await checks.observe_metric(task)
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
            mark = "🔴 Alert" if seen.failing else "🟢 OK" if decision.notify else "Check"
            await self._deliver(
                job, due, f"{mark} (check {job.id}): {seen.detail}.", "notice", manual
            )
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

    # --- housekeeping --------------------------------------------------------------------------

    async def tick(self) -> None:
        served = list(self._channels())
        for job, requested in await self.table.take_run_requests(served):
            await self.fire(job.id, requested, manual=True)
        await self.reconcile()

    async def reconcile(self) -> None:
        """Make APScheduler's store match our table for the channels this process serves."""
        if not self._engine.running:
            return
        active = await self.table.find(channels=list(self._channels()))
        stored = await self._engine.next_runs()
        for job in active:
            if job.id not in stored and job.id not in self._firing:
                await self._engine.put(job.id, job.schedule, ZoneInfo(job.timezone))
                log.info("scheduler.restored", job=job.id)
        wanted = {job.id for job in active}
        for job_id in stored.keys() - wanted:
            await self._engine.remove(job_id)
