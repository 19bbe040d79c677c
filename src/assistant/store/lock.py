"""Who is using the state directory: advisory ``flock`` locks in it.

Every process that opens the state (the daemon, ``assistant chat``, backups, admin commands)
holds a shared lock on ``assistant.lock`` for as long as it runs; ``assistant restore``,
which replaces the files under everyone's feet, needs the exclusive lock and refuses when it
cannot have it at once. One daemon per state directory: ``assistant run`` holds
``daemon.lock`` exclusively, with its pid written in it so that a second one can say who is
in the way. The kernel drops a lock when its holder dies, so a crash never leaves the
directory locked.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import structlog

from assistant.core.errors import StateError

log = structlog.get_logger(__name__)

LOCK_NAME = "assistant.lock"
DAEMON_LOCK = "daemon.lock"


@contextmanager
def state_lock(state_dir: Path, *, exclusive: bool = False) -> Iterator[None]:
    fd = _open(state_dir / LOCK_NAME)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            if exclusive:
                raise StateError(
                    f"the state directory {state_dir} is in use by a running assistant (the "
                    "service, or an `assistant chat`); stop it first: sudo systemctl stop "
                    "assistant"
                ) from None
            raise StateError(
                f"the state directory {state_dir} is being restored; try again when the "
                "restore has finished"
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@asynccontextmanager
async def daemon_lock(state_dir: Path, *, wait: float = 5.0) -> AsyncIterator[None]:
    """Be the only daemon on ``state_dir``. Another one holding it gets ``wait`` seconds to
    go away (a restart overlaps the old process's exit), then this one gives up with a
    message that names it."""
    fd = _open(state_dir / DAEMON_LOCK)
    try:
        deadline = time.monotonic() + wait
        holder: str | None = None
        while not _try_lock(fd):
            if holder is None:
                holder = _holder(fd)
                log.warning("state.daemon_running", pid=holder, state_dir=str(state_dir))
            if time.monotonic() >= deadline:
                raise StateError(
                    f"another assistant daemon (pid {holder}) is running on the state "
                    f"directory {state_dir}; stop it first (sudo systemctl stop assistant, or "
                    f"kill {holder}), or give this one another [assistant] state_dir"
                )
            await asyncio.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StateError(
            f"cannot open {path} ({exc.strerror}); check that the state directory is "
            "writable by this user"
        ) from None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return text if text.isdigit() else "unknown"
