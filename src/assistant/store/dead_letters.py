"""Dead letters: input a channel could not parse or record, kept instead of wedging it.

A channel that fails on one update or event stores it here (the payload redacted, and why),
acknowledges it to the platform and goes on. ``assistant inbox dead-letters`` lists them;
``--retry`` asks the running daemon to take one again (it looks every few seconds, and at
start), ``--drop`` deletes one. The daemon keeps the newest ``KEEP`` (hourly).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection
from dataclasses import dataclass

from assistant.store.db import Database, transaction

KEEP = 10_000

_COLUMNS = (
    "id, channel, bot, source, ref, payload, error, attempts, created_at, updated_at, "
    "retry_requested_at"
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    channel: str
    bot: str
    source: str  # how it came: polling, webhook, long-connection
    ref: str | None  # the platform's id for it, when one could be read
    payload: str  # as received (redacted, perhaps cut)
    error: str
    attempts: int
    created_at: float
    updated_at: float
    retry_requested_at: float | None


def _letter(row: sqlite3.Row) -> DeadLetter:
    return DeadLetter(**{key: row[key] for key in row.keys()})  # noqa: SIM118 - sqlite3.Row


class DeadLetters:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, *, channel: str, bot: str, source: str, ref: str | None, payload: str, error: str
    ) -> int:
        now = time.time()

        def insert(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO dead_letters (channel, bot, source, ref, payload, error, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (channel, bot, source, ref, payload, error, now, now),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

        return await self._db.call(insert)

    async def all(self) -> list[DeadLetter]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM dead_letters ORDER BY id"  # noqa: S608
        )
        return [_letter(row) for row in rows]

    async def get(self, letter_id: int) -> DeadLetter | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM dead_letters WHERE id = ?",  # noqa: S608
            (letter_id,),
        )
        return _letter(row) if row is not None else None

    async def drop(self, letter_id: int) -> bool:
        return await self._db.execute("DELETE FROM dead_letters WHERE id = ?", (letter_id,)) > 0

    async def request_retry(self, letter_id: int) -> bool:
        return (
            await self._db.execute(
                "UPDATE dead_letters SET retry_requested_at = ? WHERE id = ?",
                (time.time(), letter_id),
            )
            > 0
        )

    async def take_retries(self, channels: Collection[str]) -> list[DeadLetter]:
        """The letters of these channels whose retry was asked for; the requests are cleared."""
        if not channels:
            return []
        marks = ",".join("?" * len(channels))

        def take(conn: sqlite3.Connection) -> list[DeadLetter]:
            with transaction(conn):
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM dead_letters "  # noqa: S608
                    f"WHERE retry_requested_at IS NOT NULL AND channel IN ({marks}) ORDER BY id",
                    tuple(channels),
                ).fetchall()
                conn.executemany(
                    "UPDATE dead_letters SET retry_requested_at = NULL WHERE id = ?",
                    [(row["id"],) for row in rows],
                )
            return [_letter(row) for row in rows]

        return await self._db.call(take)

    async def failed_again(self, letter_id: int, error: str) -> None:
        await self._db.execute(
            "UPDATE dead_letters SET attempts = attempts + 1, error = ?, updated_at = ? "
            "WHERE id = ?",
            (error, time.time(), letter_id),
        )

    async def trim(self, keep: int) -> int:
        """Delete all but the newest ``keep`` letters (a source of poison must not fill the
        disk); returns how many went."""
        return await self._db.execute(
            "DELETE FROM dead_letters WHERE id <= "
            "(SELECT id FROM dead_letters ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (keep,),
        )

    async def count(self) -> int:
        row = await self._db.fetchone("SELECT count(*) AS n FROM dead_letters")
        return int(row["n"]) if row is not None else 0
