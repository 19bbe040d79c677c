"""Event ids a channel has already handled, kept across restarts.

The inbox dedupes messages by their platform id. Feishu also redelivers whole events (for
about 7 hours, and again after a reconnect); remembering the event id lets the adapter
acknowledge a repeat before parsing it, including events that produce no inbox entry (a
stranger's message, an unknown event type).
"""

from __future__ import annotations

import time

from assistant.store.db import Database


class SeenEvents:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def seen(self, channel: str, event_id: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM seen_events WHERE channel = ? AND event_id = ?", (channel, event_id)
        )
        return row is not None

    async def remember(self, channel: str, event_id: str) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO seen_events (channel, event_id, seen_at) VALUES (?, ?, ?)",
            (channel, event_id, time.time()),
        )

    async def purge(self, older_than: float) -> int:
        """Forget ids first seen before ``older_than`` (epoch seconds)."""
        return await self._db.execute("DELETE FROM seen_events WHERE seen_at < ?", (older_than,))
