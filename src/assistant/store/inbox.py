"""The durable inbox: every inbound message is recorded before the platform is acknowledged.

received → processing → replying → done. A redelivered (channel, bot, platform id) is ignored.
On start, whatever is not done is picked up again; see ``Router.recover``. What of a reply the
platform has acknowledged is in the delivery log (``store.deliveries``).

The dedupe key is the platform id qualified by the bot that received it (``bot:id``), so that
a new bot token or a Bot API server whose ids start again is not mistaken for a redelivery.
Rows recorded before the bot was kept (``bot`` NULL) still count as seen for any bot of their
channel until they are purged.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

import structlog
from pydantic import TypeAdapter

from assistant.core.messages import InboundMessage, OutFile
from assistant.store.db import Database, transaction
from assistant.store.deliveries import forget_parts

log = structlog.get_logger(__name__)

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
    plain: bool = False  # the stored reply is plain text (not Markdown)
    files: tuple[OutFile, ...] = ()  # the pictures and files the stored reply carries


@dataclass(frozen=True, slots=True)
class Duplicate:
    """``record`` found the message already recorded (entry ``inbox_id``); ``same``: with the
    same content (a redelivery), else another message under a reused id."""

    inbox_id: int
    same: bool


def inbox_key(platform_id: str, bot: str) -> str:
    return f"{bot}:{platform_id}" if bot else platform_id


def same_content(a: InboundMessage, b: InboundMessage) -> bool:
    """Whether two messages under one id say the same (what a redelivery repeats; names and
    adapter facts may differ between deliveries)."""
    return (
        a.kind == b.kind
        and a.chat == b.chat
        and a.sender.user_id == b.sender.user_id
        and a.text == b.text
        and a.message_id == b.message_id
        and [x.ref for x in a.attachments] == [x.ref for x in b.attachments]
    )


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


def set_replying(
    conn: sqlite3.Connection,
    inbox_id: int,
    reply: str,
    *,
    plain: bool = False,
    files: Sequence[OutFile] = (),
) -> None:
    """Store the reply to deliver, with its files (they go before the text, and are kept
    until it is delivered); for use inside a caller's transaction."""
    conn.execute(
        "UPDATE inbox SET status = 'replying', reply = ?, reply_format = ?, updated_at = ? "
        "WHERE id = ?",
        (reply, "plain" if plain else "markdown", time.time(), inbox_id),
    )
    conn.execute("DELETE FROM reply_files WHERE inbox_id = ?", (inbox_id,))
    if files:
        conn.executemany(
            "INSERT INTO reply_files (inbox_id, idx, name, mime_type, kind, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(inbox_id, i, f.name, f.mime_type, f.kind, f.data) for i, f in enumerate(files)],
        )
    forget_parts(conn, inbox_id)


def _reply_files(conn: sqlite3.Connection, inbox_ids: Sequence[int]) -> dict[int, list[OutFile]]:
    out: dict[int, list[OutFile]] = {}
    for inbox_id in inbox_ids:
        rows = conn.execute(
            "SELECT name, mime_type, kind, data FROM reply_files WHERE inbox_id = ? ORDER BY idx",
            (inbox_id,),
        ).fetchall()
        for row in rows:
            image = row["kind"] == "image"
            out.setdefault(inbox_id, []).append(
                OutFile(
                    row["name"],
                    bytes(row["data"]),
                    row["mime_type"],
                    "image" if image else "document",
                )
            )
    return out


def _duplicate(row: sqlite3.Row, message: InboundMessage) -> Duplicate:
    return Duplicate(row["id"], same_content(decode_message(row["payload"]), message))


class Inbox:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._legacy: bool | None = None  # may rows without a bot still be here?

    async def record(self, message: InboundMessage) -> int | Duplicate:
        """Record a message durably. Returns its inbox id, or what it duplicates."""
        payload = encode_message(message)
        now = time.time()
        channel = message.chat.channel
        key = inbox_key(message.platform_id, message.bot)

        def insert(conn: sqlite3.Connection) -> int | Duplicate:
            if self._legacy is None:
                self._legacy = (
                    conn.execute("SELECT 1 FROM inbox WHERE bot IS NULL LIMIT 1").fetchone()
                    is not None
                )
            if self._legacy and message.bot:
                row = conn.execute(
                    "SELECT id, payload FROM inbox "
                    "WHERE channel = ? AND platform_id = ? AND bot IS NULL",
                    (channel, message.platform_id),
                ).fetchone()
                if row is not None:
                    return _duplicate(row, message)
            cur = conn.execute(
                "INSERT OR IGNORE INTO inbox (channel, platform_id, bot, chat_key, payload, "
                "received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (channel, key, message.bot, message.chat.key, payload, now, now),
            )
            if cur.rowcount:
                assert cur.lastrowid is not None
                return cur.lastrowid
            row = conn.execute(
                "SELECT id, payload FROM inbox WHERE channel = ? AND platform_id = ?",
                (channel, key),
            ).fetchone()
            return _duplicate(row, message)

        recorded = await self._db.call(insert)
        if isinstance(recorded, Duplicate):
            ids = {"channel": channel, "bot": message.bot, "platform_id": message.platform_id}
            if recorded.same:
                log.debug("inbox.duplicate", **ids)
            else:  # a reused id (a new bot? a Bot API server that started over?): not answered
                log.warning("inbox.duplicate_differs", inbox_id=recorded.inbox_id, **ids)
        return recorded

    async def seen(self, channel: str, platform_id: str, bot: str = "") -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM inbox WHERE channel = ? AND platform_id = ?",
            (channel, inbox_key(platform_id, bot)),
        )
        return row is not None

    async def set_status(self, inbox_id: int, status: InboxStatus) -> None:
        if status is not InboxStatus.DONE:  # one statement: no transaction needed
            await self._db.execute(
                "UPDATE inbox SET status = ?, updated_at = ? WHERE id = ?",
                (status.value, time.time(), inbox_id),
            )
            return

        def run(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "UPDATE inbox SET status = ?, updated_at = ? WHERE id = ?",
                    (status.value, time.time(), inbox_id),
                )
                # its reply's files are not needed any more
                conn.execute("DELETE FROM reply_files WHERE inbox_id = ?", (inbox_id,))

        await self._db.call(run)

    async def mark_side_effect(self, inbox_id: int, description: str) -> None:
        """Note, before it happens, that this message's turn starts a side effect."""
        await self._db.execute(
            "UPDATE inbox SET side_effect = coalesce(side_effect || '; ', '') || ?, "
            "updated_at = ? WHERE id = ?",
            (description, time.time(), inbox_id),
        )

    async def store_reply(
        self, inbox_id: int, reply: str, *, plain: bool = False, files: Sequence[OutFile] = ()
    ) -> None:
        await self._db.call(set_replying, inbox_id, reply, plain=plain, files=files)

    async def unfinished(self, channels: Collection[str]) -> list[InboxEntry]:
        if not channels:
            return []
        marks = ",".join("?" * len(channels))  # placeholders only; values are bound
        query = (
            "SELECT id, payload, status, side_effect, reply, reply_format FROM inbox "  # noqa: S608
            f"WHERE status <> 'done' AND channel IN ({marks}) ORDER BY id"
        )
        rows = await self._db.fetchall(query, tuple(channels))
        replying = [row["id"] for row in rows if row["status"] == InboxStatus.REPLYING.value]
        files = await self._db.call(_reply_files, replying) if replying else {}
        return [
            InboxEntry(
                id=row["id"],
                message=decode_message(row["payload"]),
                status=InboxStatus(row["status"]),
                side_effect=row["side_effect"],
                reply=row["reply"],
                plain=row["reply_format"] == "plain",
                files=tuple(files.get(row["id"], ())),
            )
            for row in rows
        ]

    async def purge(self, older_than: float) -> int:
        """Forget finished messages last touched before ``older_than`` (epoch seconds)."""
        return await self._db.execute(
            "DELETE FROM inbox WHERE status = 'done' AND updated_at < ?", (older_than,)
        )
