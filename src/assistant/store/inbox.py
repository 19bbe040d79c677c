"""The durable inbox: every inbound message is recorded before the platform is acknowledged.

received → processing → replying → done. A redelivered (channel, platform id) is ignored.
On start, whatever is not done is picked up again; see ``Router.recover``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from pydantic import TypeAdapter

from assistant.core.messages import InboundMessage
from assistant.store.db import Database

_MESSAGE: TypeAdapter[InboundMessage] = TypeAdapter(InboundMessage)


class InboxStatus(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    REPLYING = "replying"  # the reply is stored; delivering it
    DONE = "done"


@dataclass(frozen=True, slots=True)
class InboxEntry:
    id: int
    message: InboundMessage
    status: InboxStatus
    side_effect: str | None
    reply: str | None


def encode_message(message: InboundMessage) -> str:
    return _MESSAGE.dump_json(message).decode()


def decode_message(payload: str) -> InboundMessage:
    return _MESSAGE.validate_json(payload)


def set_processing(conn: sqlite3.Connection, inbox_id: int) -> None:
    """Mark a message as being worked on; for use inside a caller's database call."""
    conn.execute(
        "UPDATE inbox SET status = 'processing', updated_at = ? WHERE id = ?",
        (time.time(), inbox_id),
    )


def set_replying(conn: sqlite3.Connection, inbox_id: int, reply: str) -> None:
    """Store the reply to deliver; for use inside a caller's transaction."""
    conn.execute(
        "UPDATE inbox SET status = 'replying', reply = ?, updated_at = ? WHERE id = ?",
        (reply, time.time(), inbox_id),
    )


class Inbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, message: InboundMessage) -> int | None:
        """Record a message durably. Returns its inbox id, or None for a redelivery."""
        payload = encode_message(message)
        now = time.time()

        def insert(conn: sqlite3.Connection) -> int | None:
            cur = conn.execute(
                "INSERT OR IGNORE INTO inbox (channel, platform_id, chat_key, payload, "
                "received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (message.chat.channel, message.platform_id, message.chat.key, payload, now, now),
            )
            return cur.lastrowid if cur.rowcount else None

        return await self._db.call(insert)

    async def seen(self, channel: str, platform_id: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM inbox WHERE channel = ? AND platform_id = ?", (channel, platform_id)
        )
        return row is not None

    async def set_status(self, inbox_id: int, status: InboxStatus) -> None:
        await self._db.execute(
            "UPDATE inbox SET status = ?, updated_at = ? WHERE id = ?",
            (status.value, time.time(), inbox_id),
        )

    async def mark_side_effect(self, inbox_id: int, description: str) -> None:
        """Note, before it happens, that this message's turn starts a side effect."""
        await self._db.execute(
            "UPDATE inbox SET side_effect = coalesce(side_effect || '; ', '') || ?, "
            "updated_at = ? WHERE id = ?",
            (description, time.time(), inbox_id),
        )

    async def store_reply(self, inbox_id: int, reply: str) -> None:
        await self._db.call(set_replying, inbox_id, reply)

    async def unfinished(self, channels: Collection[str]) -> list[InboxEntry]:
        if not channels:
            return []
        marks = ",".join("?" * len(channels))  # placeholders only; values are bound
        query = (
            "SELECT id, payload, status, side_effect, reply FROM inbox "  # noqa: S608
            f"WHERE status <> 'done' AND channel IN ({marks}) ORDER BY id"
        )
        rows = await self._db.fetchall(query, tuple(channels))
        return [
            InboxEntry(
                id=row["id"],
                message=decode_message(row["payload"]),
                status=InboxStatus(row["status"]),
                side_effect=row["side_effect"],
                reply=row["reply"],
            )
            for row in rows
        ]

    async def purge(self, older_than: float) -> int:
        """Forget finished messages last touched before ``older_than`` (epoch seconds)."""
        return await self._db.execute(
            "DELETE FROM inbox WHERE status = 'done' AND updated_at < ?", (older_than,)
        )
