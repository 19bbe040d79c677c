"""When each person last wrote to a bot, for platforms whose free-form replies are allowed only
for a while after that (WhatsApp: 24 hours), and the replies that could not be delivered."""

from __future__ import annotations

from assistant.store.db import Database


class ReplyWindows:
    def __init__(self, db: Database, channel: str, bot: str) -> None:
        self._db = db
        self._channel = channel
        self._bot = bot

    async def touch(self, person: str, at: float) -> None:
        """``person`` wrote at ``at`` (seconds since the epoch); an older time changes nothing."""
        await self._db.execute(
            "INSERT INTO reply_windows (channel, bot, person, last_inbound) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (channel, bot, person) DO UPDATE SET "
            "last_inbound = max(last_inbound, excluded.last_inbound)",
            (self._channel, self._bot, person, at),
        )

    async def last_inbound(self, person: str) -> float | None:
        row = await self._db.fetchone(
            "SELECT last_inbound FROM reply_windows WHERE channel = ? AND bot = ? AND person = ?",
            (self._channel, self._bot, person),
        )
        return float(row[0]) if row is not None else None

    async def undelivered(self, person: str, at: float) -> int:
        """Record a reply to ``person`` that could not be delivered; how many there are now."""
        await self._db.execute(
            "INSERT INTO reply_windows (channel, bot, person, last_inbound, undelivered, "
            "last_undelivered) VALUES (?, ?, ?, 0, 1, ?) ON CONFLICT (channel, bot, person) "
            "DO UPDATE SET undelivered = undelivered + 1, "
            "last_undelivered = excluded.last_undelivered",
            (self._channel, self._bot, person, at),
        )
        row = await self._db.fetchone(
            "SELECT undelivered FROM reply_windows WHERE channel = ? AND bot = ? AND person = ?",
            (self._channel, self._bot, person),
        )
        return int(row[0]) if row is not None else 0
