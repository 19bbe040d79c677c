"""Jobs in state.db (table ``jobs``): the scheduler's only store. A row holds what a job does,
its schedule, and its next fire time (``next_fire``), which the scheduler advances after each
run; the firing loop reads the earliest of them from here, so there is no second copy to keep
in step.

The command line uses this table directly (list, cancel, run requests), so it works whether
or not the daemon runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping

from assistant.core.messages import ChatRef, Sender
from assistant.core.ports import Clock, SystemClock
from assistant.scheduler.types import SCHEDULE, TASK, Job
from assistant.store.db import Database, transaction

_COLUMNS = (
    "id, channel, chat_id, is_group, thread_id, user_id, user_name, timezone, schedule, task, "
    "status, created_at, runs, last_run_at, last_due, check_state, check_value, last_alert_at, "
    "next_fire"
)


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        chat=ChatRef(row["channel"], row["chat_id"], bool(row["is_group"]), row["thread_id"]),
        sender=Sender(row["user_id"], row["user_name"]),
        timezone=row["timezone"],
        schedule=SCHEDULE.validate_json(row["schedule"]),
        task=TASK.validate_json(row["task"]),
        status=row["status"],
        created_at=row["created_at"],
        runs=row["runs"],
        last_run_at=row["last_run_at"],
        last_due=row["last_due"],
        check_state=row["check_state"],
        check_value=row["check_value"],
        last_alert_at=row["last_alert_at"],
        next_fire=row["next_fire"],
    )


def _marks(values: Collection[str]) -> str:
    return ",".join("?" * len(values))  # placeholders only; values are bound


class JobTable:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()

    async def insert(self, job: Job) -> bool:
        """False when the id is taken (the caller picks another)."""
        now = self._clock.time()
        changed = await self._db.execute(
            "INSERT OR IGNORE INTO jobs (id, channel, chat_id, is_group, thread_id, user_id, "
            "user_name, timezone, schedule, task, status, created_at, updated_at, next_fire) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)",
            (
                job.id,
                job.chat.channel,
                job.chat.chat_id,
                int(job.chat.is_group),
                job.chat.thread_id,
                job.sender.user_id,
                job.sender.name,
                job.timezone,
                SCHEDULE.dump_json(job.schedule).decode(),
                TASK.dump_json(job.task).decode(),
                job.created_at or now,
                now,
                job.next_fire,
            ),
        )
        return changed > 0

    async def get(self, job_id: str) -> Job | None:
        query = f"SELECT {_COLUMNS} FROM jobs WHERE id = ?"  # noqa: S608 - constant columns
        row = await self._db.fetchone(query, (job_id,))
        return _job(row) if row else None

    async def find(
        self,
        *,
        status: str | None = "active",
        channels: Collection[str] | None = None,
        chat: ChatRef | None = None,
    ) -> list[Job]:
        where, args = ["1 = 1"], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if channels is not None:
            if not channels:
                return []
            where.append(f"channel IN ({_marks(channels)})")
            args.extend(channels)
        if chat is not None:
            where.append("channel = ? AND chat_id = ?")
            args.extend((chat.channel, chat.chat_id))
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM jobs WHERE {' AND '.join(where)} ORDER BY created_at",  # noqa: S608
            tuple(args),
        )
        return [_job(row) for row in rows]

    async def count_active(self, channel: str, user_id: str) -> int:
        row = await self._db.fetchone(
            "SELECT count(*) AS n FROM jobs "
            "WHERE channel = ? AND user_id = ? AND status = 'active'",
            (channel, user_id),
        )
        return int(row["n"]) if row else 0

    async def finish(self, job_id: str, status: str) -> bool:
        """Move an active (or paused) job to ``status`` (done | cancelled); False if it was
        neither."""
        changed = await self._db.execute(
            "UPDATE jobs SET status = ?, updated_at = ? "
            "WHERE id = ? AND status IN ('active', 'paused')",
            (status, self._clock.time(), job_id),
        )
        return changed > 0

    async def set_paused(self, job_id: str, paused: bool) -> bool:
        """Pause an active job, or resume a paused one (planned afresh from its schedule);
        False if it was not in the state to change."""
        if paused:
            sql = (
                "UPDATE jobs SET status = 'paused', updated_at = ? "
                "WHERE id = ? AND status = 'active'"
            )
        else:
            sql = (
                "UPDATE jobs SET status = 'active', next_fire = NULL, updated_at = ? "
                "WHERE id = ? AND status = 'paused'"
            )
        return await self._db.execute(sql, (self._clock.time(), job_id)) > 0

    async def record_run(self, job_id: str, at: float, due: float) -> None:
        """A run on request (due at ``due``) finished at ``at``; the schedule is unchanged."""
        await self._db.execute(
            "UPDATE jobs SET runs = runs + 1, last_run_at = ?, last_due = ?, updated_at = ? "
            "WHERE id = ?",
            (at, due, at, job_id),
        )

    async def record_firing(
        self, job_id: str, at: float, due: float, next_fire: float | None
    ) -> None:
        """The firing due at ``due`` finished at ``at``; the job fires next at ``next_fire``
        (None: never again, it is done)."""
        await self._db.execute(
            "UPDATE jobs SET runs = runs + 1, last_run_at = ?, last_due = ?, updated_at = ?, "
            "next_fire = ?, status = CASE WHEN ? IS NULL AND status = 'active' THEN 'done' "
            "ELSE status END WHERE id = ?",
            (at, due, at, next_fire, next_fire, job_id),
        )

    async def plan(self, job_id: str, next_fire: float | None) -> None:
        """Set when an active job fires next; None: never again (it is done)."""
        await self._db.execute(
            "UPDATE jobs SET next_fire = ?, updated_at = ?, "
            "status = CASE WHEN ? IS NULL THEN 'done' ELSE status END "
            "WHERE id = ? AND status = 'active'",
            (next_fire, self._clock.time(), next_fire, job_id),
        )

    async def plan_unplanned(self, times: Mapping[str, float]) -> int:
        """Give active jobs without a next fire time the ones in ``times`` (from the store of
        an earlier version); returns how many took one."""

        def run(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                return sum(
                    conn.execute(
                        "UPDATE jobs SET next_fire = ? "
                        "WHERE id = ? AND status = 'active' AND next_fire IS NULL",
                        (when, job_id),
                    ).rowcount
                    for job_id, when in times.items()
                )

        return await self._db.call(run)

    async def unplanned(self, channels: Collection[str]) -> list[Job]:
        """Active jobs of ``channels`` with no next fire time yet."""
        if not channels:
            return []
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM jobs WHERE status = 'active' AND next_fire IS NULL "  # noqa: S608
            f"AND channel IN ({_marks(channels)})",
            tuple(channels),
        )
        return [_job(row) for row in rows]

    async def due(
        self, channels: Collection[str], now: float, *, busy: Collection[str] = ()
    ) -> list[Job]:
        """Active jobs of ``channels`` due at ``now``, earliest first, but the ``busy`` ones."""
        if not channels:
            return []
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM jobs WHERE status = 'active' AND next_fire <= ? "  # noqa: S608
            f"AND channel IN ({_marks(channels)}) AND id NOT IN ({_marks(busy)}) "
            "ORDER BY next_fire",
            (now, *channels, *busy),
        )
        return [_job(row) for row in rows]

    async def earliest(
        self, channels: Collection[str], *, busy: Collection[str] = ()
    ) -> float | None:
        """The earliest next fire time of the active jobs of ``channels`` but the ``busy``."""
        if not channels:
            return None
        row = await self._db.fetchone(
            "SELECT min(next_fire) AS at FROM jobs WHERE status = 'active' "  # noqa: S608
            f"AND channel IN ({_marks(channels)}) AND id NOT IN ({_marks(busy)})",
            (*channels, *busy),
        )
        return None if row is None or row["at"] is None else float(row["at"])

    async def set_check(
        self, job_id: str, state: str, value: float | None, alerted_at: float | None
    ) -> None:
        await self._db.execute(
            "UPDATE jobs SET check_state = ?, check_value = ?, last_alert_at = ?, updated_at = ? "
            "WHERE id = ?",
            (state, value, alerted_at, self._clock.time(), job_id),
        )

    async def request_run(self, job_id: str) -> bool:
        changed = await self._db.execute(
            "UPDATE jobs SET run_requested_at = ?, updated_at = ? "
            "WHERE id = ? AND status = 'active'",
            (self._clock.time(), self._clock.time(), job_id),
        )
        return changed > 0

    async def take_run_requests(self, channels: Collection[str]) -> list[tuple[Job, float]]:
        """Active jobs someone asked to run now (``assistant jobs run``); clears the requests."""
        if not channels:
            return []

        def take(conn: sqlite3.Connection) -> list[tuple[Job, float]]:
            with transaction(conn):
                rows = conn.execute(
                    f"SELECT {_COLUMNS}, run_requested_at FROM jobs "  # noqa: S608
                    f"WHERE run_requested_at IS NOT NULL AND channel IN ({_marks(channels)})",
                    tuple(channels),
                ).fetchall()
                conn.executemany(
                    "UPDATE jobs SET run_requested_at = NULL WHERE id = ?",
                    [(row["id"],) for row in rows],
                )
            return [
                (_job(row), row["run_requested_at"]) for row in rows if row["status"] == "active"
            ]

        return await self._db.call(take)
