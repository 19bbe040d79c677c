"""APScheduler 3 (``AsyncIOScheduler`` + ``SQLAlchemyJobStore`` on SQLite), kept off the loop.

APScheduler stores triggers only; every job calls one stable entry point
(``assistant.scheduler.entry:fire``) with our job id, so renaming code never deletes a job.
Two small extensions keep the job store's blocking I/O off the event loop:

- ``_OffLoopScheduler.wakeup`` runs ``_process_jobs`` (which reads and writes the job store)
  on the engine's own thread; its timers still live on the loop.
- ``_LoopExecutor`` hands each due job to the loop with the time it was due, so the service
  can tell a late run from a timely one (APScheduler's own executors do not pass it).

Lateness is judged by the service, not by APScheduler: ``misfire_grace_time=None`` makes
APScheduler run a missed job however late, and ``coalesce=True`` collapses a series of missed
runs into one.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import structlog
from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job as ApsJob
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import create_engine, event

from assistant.core.errors import StateError
from assistant.scheduler.types import At, Cron, Every, cron_for_apscheduler

log = structlog.get_logger(__name__)

T = TypeVar("T")
ENTRY = "assistant.scheduler.entry:fire"  # stored in every job: never rename
TICK_EVERY = 30.0  # seconds between housekeeping ticks (run requests from the command line)


class FireTarget(Protocol):
    async def fire(self, job_id: str, due: float) -> None: ...

    async def tick(self) -> None: ...


def build_trigger(schedule: At | Every | Cron, zone: ZoneInfo) -> BaseTrigger:
    """Raises ``ValueError`` for a schedule APScheduler cannot express."""
    if isinstance(schedule, At):
        return DateTrigger(run_date=schedule.time, timezone=zone)
    if isinstance(schedule, Every):
        return IntervalTrigger(seconds=schedule.seconds, start_date=schedule.start, timezone=zone)
    return CronTrigger.from_crontab(cron_for_apscheduler(schedule.expr), timezone=zone)


def next_fire(schedule: At | Every | Cron, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first time at or after ``after`` that ``schedule`` fires."""
    fire: datetime | None = build_trigger(schedule, zone).get_next_fire_time(None, after)
    return fire


class _OffLoopScheduler(AsyncIOScheduler):  # type: ignore[misc]
    def __init__(self, *, io: ThreadPoolExecutor, **options: Any) -> None:
        self._io = io
        super().__init__(**options)

    def wakeup(self) -> None:  # any thread
        loop = self._eventloop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:  # on the loop
        self._stop_timer()
        if self.state == STATE_STOPPED:
            return
        future = self._eventloop.run_in_executor(self._io, self._process_jobs)
        future.add_done_callback(self._processed)

    def _processed(self, future: asyncio.Future[float | None]) -> None:  # on the loop
        if future.cancelled() or self.state == STATE_STOPPED:
            return
        error = future.exception()
        if error is not None:
            log.error("scheduler.process_failed", error=str(error))
            self._start_timer(TICK_EVERY)
            return
        self._start_timer(future.result())

    def shutdown(self, wait: bool = True) -> None:  # on the engine thread
        BaseScheduler.shutdown(self, wait)


class _LoopExecutor(BaseExecutor):  # type: ignore[misc]
    def __init__(self, loop: asyncio.AbstractEventLoop, target: FireTarget) -> None:
        super().__init__()
        self._loop = loop
        self._target = target
        self._pending: set[Future[Any]] = set()

    def shutdown(self, wait: bool = True) -> None:
        for future in list(self._pending):
            future.cancel()

    def _do_submit_job(self, job: ApsJob, run_times: list[datetime]) -> None:  # engine thread
        async def run() -> None:  # one run per due time (coalescing leaves only the last)
            for run_time in run_times:
                await job.func(*job.args, due=run_time.timestamp(), target=self._target)

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        self._pending.add(future)

        def done(finished: Future[Any]) -> None:
            self._pending.discard(finished)
            error = None if finished.cancelled() else finished.exception()
            if error is not None:
                self._run_job_error(job.id, error, error.__traceback__)
            else:
                self._run_job_success(job.id, [])

        future.add_done_callback(done)


def _sqlite_engine(path: Path) -> Any:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 10})

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class Engine:
    """One APScheduler over one job store file. Only one process may run a given store: the
    engine holds ``<store>.lock`` while started and refuses to start if another holds it."""

    def __init__(self, path: Path, target: FireTarget) -> None:
        self.path = path
        self._target = target
        self._io: ThreadPoolExecutor | None = None
        self._aps: _OffLoopScheduler | None = None
        self._lock_fd: int | None = None

    @property
    def running(self) -> bool:
        return self._aps is not None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scheduler")
        try:
            await self._call(self._lock)
            aps = _OffLoopScheduler(
                io=self._io,
                event_loop=loop,
                timezone=ZoneInfo("UTC"),
                jobstores={
                    "default": SQLAlchemyJobStore(engine=_sqlite_engine(self.path)),
                    "internal": MemoryJobStore(),
                },
                executors={"default": _LoopExecutor(loop, self._target)},
                job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            )
            await self._call(aps.start)
            self._aps = aps
            await self._call(
                aps.add_job,
                "assistant.scheduler.entry:tick",
                IntervalTrigger(seconds=TICK_EVERY),
                id="tick",
                jobstore="internal",
            )
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        aps, self._aps = self._aps, None
        if self._io is None:
            return
        try:
            if aps is not None:
                await self._call(aps.shutdown, False)
                aps._stop_timer()
            await self._call(self._unlock)
        finally:
            self._io.shutdown(wait=True)
            self._io = None

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        assert self._io is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, lambda: fn(*args, **kwargs))

    def _lock(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateError(
                f"another assistant process runs the scheduler of {self.path}"
            ) from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- jobs ----------------------------------------------------------------------------------

    async def put(
        self, job_id: str, schedule: At | Every | Cron, zone: ZoneInfo
    ) -> datetime | None:
        """Schedule (or reschedule) ``job_id``; returns its next run time."""
        assert self._aps is not None
        job = await self._call(
            self._aps.add_job,
            ENTRY,
            build_trigger(schedule, zone),
            args=[job_id],
            id=job_id,
            name=job_id,
            replace_existing=True,
        )
        next_run: datetime | None = job.next_run_time
        return next_run

    async def remove(self, job_id: str) -> None:
        assert self._aps is not None
        aps = self._aps

        def remove() -> None:
            if aps.get_job(job_id, jobstore="default") is not None:
                aps.remove_job(job_id, jobstore="default")

        await self._call(remove)

    async def next_runs(self) -> dict[str, datetime | None]:
        """Every stored job id and its next run time."""
        assert self._aps is not None
        jobs = await self._call(self._aps.get_jobs, jobstore="default")
        return {job.id: job.next_run_time for job in jobs}
