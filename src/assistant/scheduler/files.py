"""The files a scheduler keeps beside state.db: its lock, and what earlier versions left.

Each process fires the jobs of the channels it serves (the daemon: its chat platforms;
``assistant chat``: the terminal) under a name of its own (``jobs``, ``jobs-console``). It
holds ``<name>.lock`` while it fires them, so a second process of the same kind stores jobs
but leaves the firing to the first.

Versions before issue 14 kept APScheduler's triggers in ``<name>.db`` (a SQLAlchemy job
store). The jobs table is the truth now: at start, each active job without a next fire time
takes the one that file held (``apscheduler_jobs.next_run_time``, a plain column), and the
file goes. A file that cannot be read is dropped as well; its jobs are planned from their
schedules.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

import structlog

from assistant.core.errors import StateError

log = structlog.get_logger(__name__)

_SIDECARS = ("", "-wal", "-shm", "-journal", ".lock")


class FiringLock:
    """``<state_dir>/<name>.lock``, held exclusively while this process fires jobs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Blocking I/O: call it off the loop. ``StateError`` when another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateError(f"another assistant process fires the jobs of {self.path}") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def take_legacy_store(path: Path) -> dict[str, float]:
    """The next run times an earlier version's APScheduler store at ``path`` held, by job id;
    the file (and its sidecars) is removed. Blocking I/O: call it off the loop."""
    if not path.exists():
        return {}
    times: dict[str, float] = {}
    try:
        conn = sqlite3.connect(path, timeout=5)  # not read-only: a crash may have left a WAL
        try:
            rows = conn.execute(
                "SELECT id, next_run_time FROM apscheduler_jobs WHERE next_run_time IS NOT NULL"
            ).fetchall()
        finally:
            conn.close()
        times = {str(job_id): float(when) for job_id, when in rows}
    except (sqlite3.Error, TypeError, ValueError) as exc:
        log.warning("scheduler.legacy_store_unreadable", path=str(path), error=str(exc))
    for suffix in _SIDECARS:
        try:
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        except OSError as exc:
            log.warning("scheduler.legacy_store_kept", path=f"{path}{suffix}", error=str(exc))
    log.info("scheduler.legacy_store_imported", path=str(path), jobs=len(times))
    return times
