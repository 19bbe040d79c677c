"""The delivery log: which parts of a reply the platform has acknowledged.

One row per part of an inbox entry's reply. ``sending`` is written just before the platform is
asked, ``sent`` (with the platform's message id) the moment it acknowledged; ``preview`` is
part 0 while it is a streamed message still being written. After a crash (or a shutdown that
cut a reply) the reply resumes at the first part that is not ``sent``, and a ``preview`` on
screen is edited into the final text. A part left ``sending`` was in flight when the process
stopped: the platform may or may not have it, and it is the only part that may appear twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from assistant.store.db import Database, transaction


class PartState(StrEnum):
    SENDING = "sending"
    PREVIEW = "preview"
    SENT = "sent"


@dataclass(frozen=True, slots=True)
class PartRecord:
    index: int
    state: PartState
    message_id: str | None


def forget_parts(conn: sqlite3.Connection, inbox_id: int) -> None:
    """A new reply text is stored: what was recorded for an earlier text no longer applies,
    except a preview on screen, which the new text will replace."""
    conn.execute("DELETE FROM deliveries WHERE inbox_id = ? AND state <> 'preview'", (inbox_id,))


def _put(
    conn: sqlite3.Connection,
    inbox_id: int,
    index: int,
    state: PartState,
    message_id: str | None,
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO deliveries (inbox_id, part, state, message_id, at) "
        "VALUES (?, ?, ?, ?, ?)",
        (inbox_id, index, state.value, message_id, time.time()),
    )


def _sent_and_done(
    conn: sqlite3.Connection, inbox_id: int, index: int, message_id: str, files: bool
) -> None:
    with transaction(conn):
        _put(conn, inbox_id, index, PartState.SENT, message_id)
        conn.execute(
            "UPDATE inbox SET status = 'done', updated_at = ? WHERE id = ?",
            (time.time(), inbox_id),
        )
        if files:  # a reply without files has none stored (``set_replying`` cleared them)
            conn.execute("DELETE FROM reply_files WHERE inbox_id = ?", (inbox_id,))


class DeliveryLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def parts(self, inbox_ids: Collection[int]) -> dict[int, dict[int, PartRecord]]:
        """What is recorded for these entries: inbox id → part index → record."""
        out: dict[int, dict[int, PartRecord]] = {}
        ids = list(inbox_ids)
        for start in range(0, len(ids), 500):  # SQLite caps the number of placeholders
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self._db.fetchall(
                "SELECT inbox_id, part, state, message_id FROM deliveries "  # noqa: S608
                f"WHERE inbox_id IN ({marks})",
                tuple(chunk),
            )
            for row in rows:
                record = PartRecord(row["part"], PartState(row["state"]), row["message_id"])
                out.setdefault(row["inbox_id"], {})[record.index] = record
        return out

    async def sending(self, inbox_id: int, index: int) -> None:
        await self._db.call(_put, inbox_id, index, PartState.SENDING, None)

    async def preview(self, inbox_id: int, message_id: str) -> None:
        await self._db.call(_put, inbox_id, 0, PartState.PREVIEW, message_id)

    async def sent(
        self, inbox_id: int, index: int, message_id: str, *, done: bool, files: bool = True
    ) -> None:
        """Part ``index`` was acknowledged; ``done``: it was the last, so is the entry (and
        its stored files, if the reply carried any: ``files``, are dropped)."""
        if done:
            await self._db.call(_sent_and_done, inbox_id, index, message_id, files)
        else:
            await self._db.call(_put, inbox_id, index, PartState.SENT, message_id)
