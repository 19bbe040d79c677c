"""What the state keeps, and for how long (``[limits] retention_days`` and
``messages_per_conversation``), applied by the daemon's daily maintenance.

Pruned: conversation messages older than the retention, and beyond the newest
``messages_per_conversation`` rows of any conversation; turn records (token counts) older
than the retention; ended conversations left without messages; finished jobs and decided
approvals older than the retention. Kept: the audit chain (append-only: removing records would
break its hashes), the record of access changes, users and groups. Rows go in small batches,
so the database thread is never held long and messages keep flowing while it runs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from assistant.store.db import Database, transaction

BATCH = 2000
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Pruned:
    messages: int = 0
    turns: int = 0
    conversations: int = 0
    jobs: int = 0
    approvals: int = 0

    @property
    def total(self) -> int:
        return self.messages + self.turns + self.conversations + self.jobs + self.approvals


async def prune(
    db: Database, *, now: float, retention_days: int, messages_per_conversation: int
) -> Pruned:
    """Apply the retention as of ``now`` (epoch seconds); ``retention_days`` 0 keeps
    everything that is not over the per-conversation cap."""
    messages = await _over_cap(db, messages_per_conversation)
    if retention_days <= 0:
        return Pruned(messages=messages)
    cutoff = now - retention_days * _DAY
    messages += await _batched(
        db,
        "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE created_at < ? LIMIT ?)",
        cutoff,
    )
    turns = await _batched(
        db,
        "DELETE FROM turns WHERE rowid IN (SELECT rowid FROM turns WHERE started_at < ? LIMIT ?)",
        cutoff,
    )
    conversations = await db.execute(
        "DELETE FROM conversations WHERE ended_at IS NOT NULL AND ended_at < ? AND NOT EXISTS "
        "(SELECT 1 FROM messages WHERE conversation_id = conversations.id)",
        (cutoff,),
    )
    jobs = await db.execute(
        "DELETE FROM jobs WHERE status <> 'active' AND updated_at < ?", (cutoff,)
    )
    approvals = await db.execute(
        "DELETE FROM approvals WHERE status <> 'pending' AND created_at < ?", (cutoff,)
    )
    return Pruned(messages, turns, conversations, jobs, approvals)


async def _batched(db: Database, sql: str, cutoff: float) -> int:
    total = 0
    while True:
        count = await db.execute(sql, (cutoff, BATCH))
        total += count
        if count < BATCH:
            return total


async def _over_cap(db: Database, cap: int) -> int:
    """Delete the oldest messages of each conversation beyond its newest ``cap``."""
    rows = await db.fetchall(
        "SELECT conversation_id FROM messages GROUP BY conversation_id HAVING count(*) > ?",
        (cap,),
    )

    def trim(conn: sqlite3.Connection, conversation_id: int) -> int:
        with transaction(conn):
            return conn.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND id < (SELECT id FROM messages "
                "WHERE conversation_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (conversation_id, conversation_id, cap - 1),
            ).rowcount

    total = 0
    for row in rows:
        total += await db.call(trim, row["conversation_id"])
    return total
