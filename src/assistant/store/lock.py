"""Who is using the state directory: an advisory ``flock`` on ``<state_dir>/assistant.lock``.

Every process that opens the state (the daemon, ``assistant chat``, backups, admin commands)
holds a shared lock for as long as it runs; ``assistant restore``, which replaces the files
under everyone's feet, needs the exclusive lock and refuses when it cannot have it at once.
The kernel drops a lock when its holder dies, so a crash never leaves the directory locked.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.core.errors import StateError

LOCK_NAME = "assistant.lock"


@contextmanager
def state_lock(state_dir: Path, *, exclusive: bool = False) -> Iterator[None]:
    path = state_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StateError(
            f"cannot open {path} ({exc.strerror}); check that the state directory is "
            "writable by this user"
        ) from None
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
