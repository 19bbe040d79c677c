"""Granted users and groups (pairing, `assistant users role`), next to those in the config.

Every grant and revocation is recorded in ``access_changes`` in the same transaction.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from assistant.core.redact import Redactor
from assistant.core.roles import Role
from assistant.store.audit import append_record
from assistant.store.db import Database, transaction

_REDACTOR = Redactor()  # access records hold ids and names; the patterns still apply


@dataclass(frozen=True, slots=True)
class UserGrant:
    channel: str
    user_id: str
    role: Role
    name: str
    granted_by: str
    granted_at: float


@dataclass(frozen=True, slots=True)
class AccessChange:
    at: float
    actor: str
    action: str
    channel: str
    subject: str
    role: str | None
    detail: str


def record_change(
    conn: sqlite3.Connection,
    *,
    actor: str,
    action: str,
    channel: str,
    subject: str,
    role: str | None = None,
    detail: str = "",
) -> None:
    """Append to the record of access changes, and to the audit log; for use inside the
    caller's transaction."""
    conn.execute(
        "INSERT INTO access_changes (at, actor, action, channel, subject, role, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (time.time(), actor, action, channel, subject, role, detail),
    )
    data = {"channel": channel, "subject": subject, "role": role, "detail": detail}
    append_record(conn, f"access.{action}", actor, data, _REDACTOR)


def grant_role(
    conn: sqlite3.Connection, channel: str, user_id: str, role: Role, *, name: str, by: str
) -> None:
    """Give a user a role (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO users (channel, user_id, role, name, granted_by, granted_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, user_id) DO UPDATE SET "
        "role = excluded.role, granted_by = excluded.granted_by, "
        "granted_at = excluded.granted_at, "
        "name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE users.name END",
        (channel, user_id, role.value, name, by, time.time()),
    )


def _grant(row: sqlite3.Row) -> UserGrant:
    return UserGrant(
        channel=row["channel"],
        user_id=row["user_id"],
        role=Role(row["role"]),
        name=row["name"],
        granted_by=row["granted_by"],
        granted_at=row["granted_at"],
    )


class Users:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def role(self, channel: str, user_id: str) -> Role | None:
        row = await self._db.fetchone(
            "SELECT role FROM users WHERE channel = ? AND user_id = ?", (channel, user_id)
        )
        return Role(row["role"]) if row else None

    async def grant(
        self, channel: str, user_id: str, role: Role, *, name: str = "", by: str
    ) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                grant_role(conn, channel, user_id, role, name=name, by=by)
                record_change(
                    conn,
                    actor=by,
                    action="role.set",
                    channel=channel,
                    subject=user_id,
                    role=role.value,
                )

        await self._db.call(run)

    async def revoke(self, channel: str, user_id: str, *, by: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                changed = conn.execute(
                    "DELETE FROM users WHERE channel = ? AND user_id = ?", (channel, user_id)
                ).rowcount
                if changed:
                    record_change(
                        conn, actor=by, action="access.revoke", channel=channel, subject=user_id
                    )
                return changed > 0

        return await self._db.call(run)

    async def granted(self, channel: str | None = None) -> list[UserGrant]:
        if channel:
            rows = await self._db.fetchall(
                "SELECT * FROM users WHERE channel = ? ORDER BY granted_at", (channel,)
            )
        else:
            rows = await self._db.fetchall("SELECT * FROM users ORDER BY channel, granted_at")
        return [_grant(r) for r in rows]

    async def group_allowed(self, channel: str, chat_id: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM groups WHERE channel = ? AND chat_id = ?", (channel, chat_id)
        )
        return row is not None

    async def allow_group(self, channel: str, chat_id: str, *, by: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "INSERT OR REPLACE INTO groups (channel, chat_id, granted_by, granted_at) "
                    "VALUES (?, ?, ?, ?)",
                    (channel, chat_id, by, time.time()),
                )
                record_change(
                    conn, actor=by, action="group.allow", channel=channel, subject=chat_id
                )

        await self._db.call(run)

    async def remove_group(self, channel: str, chat_id: str, *, by: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                changed = conn.execute(
                    "DELETE FROM groups WHERE channel = ? AND chat_id = ?", (channel, chat_id)
                ).rowcount
                if changed:
                    record_change(
                        conn, actor=by, action="group.remove", channel=channel, subject=chat_id
                    )
                return changed > 0

        return await self._db.call(run)

    async def groups(self, channel: str | None = None) -> list[tuple[str, str]]:
        rows = await self._db.fetchall(
            "SELECT channel, chat_id FROM groups WHERE ? IS NULL OR channel = ? "
            "ORDER BY channel, granted_at",
            (channel, channel),
        )
        return [(r["channel"], r["chat_id"]) for r in rows]

    async def changes(self, limit: int = 50) -> list[AccessChange]:
        rows = await self._db.fetchall(
            "SELECT at, actor, action, channel, subject, role, detail FROM access_changes "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [AccessChange(**dict(r)) for r in reversed(rows)]
