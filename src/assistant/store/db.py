"""One SQLite database in WAL mode, used from a dedicated thread so the loop never blocks.

Every access is a plain function ``fn(conn, *args)`` run on that thread; a function that
writes several rows wraps them in ``transaction(conn)`` and so commits them atomically in one
hop. Other processes (the CLI while the daemon runs) share the file through WAL and a busy
timeout.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import structlog

from assistant.core.errors import StateError
from assistant.store.schema import MIGRATIONS

log = structlog.get_logger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


def prepare_state_dir(path: Path) -> None:
    """Create the state directory (mode 0700) and check that it is writable."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(
            f"cannot create state directory {path} ({exc.strerror}); create it for the "
            "service user, or set [assistant] state_dir"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StateError(
            f"state directory {path} is not writable by this user; run as the service user "
            "(sudo -u assistant ...) or set [assistant] state_dir"
        )


def is_sqlite(path: Path) -> bool:
    """Whether ``path`` starts like an SQLite database."""
    try:
        with path.open("rb") as file:
            return file.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def integrity_problem(conn: sqlite3.Connection, *, quick: bool = False) -> str | None:
    """What SQLite's ``integrity_check`` (or the faster ``quick_check``, which skips
    comparing indexes with their tables) finds wrong with the database; None: nothing."""
    pragma = "quick_check" if quick else "integrity_check"
    rows = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}(5)").fetchall()]
    if rows == ["ok"]:
        return None
    lines = [line for row in rows for line in row.splitlines() if not line.startswith("***")]
    return "; ".join(lines) or "unknown damage"


def read_only_count(database: Path, query: str) -> int | None:
    """The count ``query`` selects, from ``database`` opened read-only; None when it cannot
    be read (missing, locked past 5 s, damaged, another schema)."""
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        return int(conn.execute(query).fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused because the file is damaged or not a database at all."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def damaged(path: Path, problem: str) -> StateError:
    return StateError(
        f"the state database {path} is damaged ({problem[:300]}); the assistant will not run on "
        "it. Restore the last good backup: sudo systemctl stop assistant; sudo assistant restore "
        "BACKUP.tar.gz (the damaged files are moved aside, not deleted; see "
        "docs/troubleshooting.md#damaged-state)"
    )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class Database:
    """An open SQLite database. Enter it once; it refuses reuse after closing."""

    def __init__(self, path: Path, *, busy_timeout: float = 10.0, check: bool = False) -> None:
        """``check``: run ``PRAGMA quick_check`` on open and refuse a damaged database."""
        self.path = path
        self._busy_timeout = busy_timeout
        self._check = check
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    async def __aenter__(self) -> Database:
        if self._closed or self._executor is not None:
            raise RuntimeError("a Database can be opened only once")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            await self._submit(self._open)
        except BaseException:
            self._executor.shutdown(wait=True)
            self._closed = True
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        if self._executor is None:
            return
        try:
            await self._submit(self._close)
        finally:
            self._executor.shutdown(wait=True)

    async def call(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(conn, *args)`` on the database thread."""
        if self._closed:
            raise StateError("the state database is closed")

        def run() -> T:
            assert self._conn is not None
            try:
                return fn(self._conn, *args, **kwargs)
            except sqlite3.Error as exc:
                raise StateError(f"state database {self.path}: {exc}") from exc

        return await self._submit(run)

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one statement; returns the number of rows changed."""
        return await self.call(lambda conn: conn.execute(sql, params).rowcount)

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return await self.call(lambda conn: conn.execute(sql, params).fetchall())

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = await self.call(lambda conn: conn.execute(sql, params).fetchone())
        return row

    async def _submit(self, fn: Callable[[], T]) -> T:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _open(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_timeout)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a process crash (SIGKILL) without an fsync per commit;
            # only an OS crash or power cut can lose the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            if self._check and (problem := integrity_problem(conn, quick=True)) is not None:
                conn.close()
                raise damaged(self.path, problem)
            migrate(conn)
        except sqlite3.Error as exc:
            if is_damage(exc):
                raise damaged(self.path, str(exc)) from exc
            raise StateError(
                f"cannot open state database {self.path}: {exc}; check that the state "
                "directory is writable and the disk is not full"
            ) from exc
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version; returns the version."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    newest = len(MIGRATIONS)
    if current > newest:
        raise StateError(
            f"the state database has schema version {current}, newer than this program "
            f"understands ({newest}); upgrade the program or restore a backup"
        )
    for version in range(current + 1, newest + 1):
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{MIGRATIONS[version - 1]}\nPRAGMA user_version={version};\nCOMMIT;"
        )
        log.info("state.migrated", version=version)
    return newest
