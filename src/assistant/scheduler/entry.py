"""The functions APScheduler calls. Their import paths are stored with every job in jobs.db:
never rename or move them (a job whose function cannot be imported is deleted on load).

No module-level state: the engine's executor passes the running service as ``target`` and the
time the job was due as ``due``, so several engines can run in one process. (They have
defaults only because APScheduler checks a job's arguments against the signature when the
job is added.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.scheduler.engine import FireTarget


async def fire(job_id: str, *, due: float = 0.0, target: FireTarget | None = None) -> None:
    """A job is due: hand its id and due time to the service."""
    if target is None:
        raise RuntimeError("scheduler entry point called outside the engine")
    await target.fire(job_id, due)


async def tick(*, due: float = 0.0, target: FireTarget | None = None) -> None:
    """Housekeeping: run requests from the command line, reconciliation."""
    if target is None:
        raise RuntimeError("scheduler entry point called outside the engine")
    await target.tick()
