"""Scratch folders in the state directory (``.backup-*``, ``.restore-*``) and their cleanup.

A backup copies the whole state into a scratch folder before packing it; a process killed on
the way (SIGKILL, power cut) leaves that copy behind. Each scratch folder holds a lock file
that its process keeps locked while it works, so a later backup, restore or start can tell a
leftover (nobody holds its lock) from one in use, and removes only leftovers.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

import structlog

from assistant.core.errors import StateError

log = structlog.get_logger(__name__)

PREFIXES = (".backup-", ".restore-")
IN_USE = ".in-use"
_GRACE = 60.0  # a folder without its lock file may be one that is being created


class Scratch:
    """A private temporary folder inside the state directory (same file system, same owner),
    removed on exit."""

    def __init__(self, parent: Path, prefix: str) -> None:
        self._parent, self._prefix = parent, prefix
        self._path: Path | None = None
        self._fd: int | None = None

    def __enter__(self) -> Path:
        remove_stale(self._parent)
        try:
            self._path = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self._parent))
            self._fd = os.open(self._path / IN_USE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self.__exit__()
            raise StateError(
                f"cannot write in the state directory {self._parent} ({exc.strerror}); run as "
                "root or as the service user"
            ) from None
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self._path

    def __exit__(self, *exc_info: object) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def remove_stale(state_dir: Path) -> list[str]:
    """Remove the scratch folders no process is using; returns their names."""
    removed: list[str] = []
    try:
        entries = list(state_dir.iterdir())
    except OSError:
        return removed
    for path in entries:
        if not path.name.startswith(PREFIXES) or path.is_symlink() or not path.is_dir():
            continue
        if _in_use(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
        log.warning("state.scratch_removed", folder=str(path))
    return removed


def _in_use(folder: Path) -> bool:
    try:
        fd = os.open(folder / IN_USE, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime < _GRACE
        except OSError:
            return False
    except OSError:
        return True  # not ours to judge (another owner): leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
