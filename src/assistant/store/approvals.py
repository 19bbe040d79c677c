"""Approval requests: who asked to run what where, and who decided."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass

from assistant.core.messages import ChatRef
from assistant.core.ports import Clock, SystemClock
from assistant.store.db import Database, transaction


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    id: int
    requester: str  # "channel:user_id"
    requester_name: str
    chat: ChatRef
    hosts: tuple[str, ...]
    command: str
    reason: str
    status: str  # pending | approved | denied | expired
    created_at: float
    expires_at: float
    decided_at: float | None
    decided_by: str | None
    messages: tuple[tuple[str, str, str], ...]  # (channel, chat_id, message_id) of the asks


def _record(row: sqlite3.Row) -> ApprovalRecord:
    return ApprovalRecord(
        id=row["id"],
        requester=row["requester"],
        requester_name=row["requester_name"],
        chat=ChatRef(**json.loads(row["chat"])),
        hosts=tuple(row["hosts"].split(",")),
        command=row["command"],
        reason=row["reason"],
        status=row["status"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
        messages=tuple(tuple(m) for m in json.loads(row["messages"])),
    )


class ApprovalStore:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()

    async def create(
        self,
        *,
        requester: str,
        requester_name: str,
        chat: ChatRef,
        hosts: tuple[str, ...],
        command: str,
        reason: str,
        ttl: float,
    ) -> ApprovalRecord:
        now = self._clock.time()

        def run(conn: sqlite3.Connection) -> ApprovalRecord:
            with transaction(conn):
                cur = conn.execute(
                    "INSERT INTO approvals (requester, requester_name, chat, hosts, command, "
                    "reason, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        requester,
                        requester_name,
                        json.dumps(dataclasses.asdict(chat)),
                        ",".join(hosts),
                        command,
                        reason,
                        now,
                        now + ttl,
                    ),
                )
                row = conn.execute("SELECT * FROM approvals WHERE id = ?", (cur.lastrowid,))
                return _record(row.fetchone())

        return await self._db.call(run)

    async def get(self, approval_id: int) -> ApprovalRecord | None:
        row = await self._db.fetchone("SELECT * FROM approvals WHERE id = ?", (approval_id,))
        return _record(row) if row else None

    async def add_message(
        self, approval_id: int, channel: str, chat_id: str, message_id: str
    ) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                row = conn.execute("SELECT messages FROM approvals WHERE id = ?", (approval_id,))
                found = row.fetchone()
                if found is None:
                    return
                messages = json.loads(found["messages"])
                messages.append([channel, chat_id, message_id])
                conn.execute(
                    "UPDATE approvals SET messages = ? WHERE id = ?",
                    (json.dumps(messages), approval_id),
                )

        await self._db.call(run)

    async def decide(self, approval_id: int, status: str, by: str) -> ApprovalRecord | None:
        """Move a pending request to ``status``; None if it was not pending any more."""

        def run(conn: sqlite3.Connection) -> ApprovalRecord | None:
            with transaction(conn):
                changed = conn.execute(
                    "UPDATE approvals SET status = ?, decided_at = ?, decided_by = ? "
                    "WHERE id = ? AND status = 'pending'",
                    (status, self._clock.time(), by, approval_id),
                ).rowcount
                if not changed:
                    return None
                row = conn.execute("SELECT * FROM approvals WHERE id = ?", (approval_id,))
                return _record(row.fetchone())

        return await self._db.call(run)

    async def pending(self) -> list[ApprovalRecord]:
        rows = await self._db.fetchall("SELECT * FROM approvals WHERE status = 'pending'")
        return [_record(r) for r in rows]
