"""Granted users and groups (pairing, `assistant users role`), next to those in the config."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from assistant.core.roles import Role
from assistant.store.db import Database


@dataclass(frozen=True, slots=True)
class UserGrant:
    channel: str
    user_id: str
    role: Role
    name: str
    granted_by: str
    granted_at: float


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
        self, channel: str, user_id: str, role: Role, *, name: str = "", by: str = ""
    ) -> None:
        await self._db.execute(
            "INSERT INTO users (channel, user_id, role, name, granted_by, granted_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, user_id) DO UPDATE SET "
            "role = excluded.role, granted_by = excluded.granted_by, "
            "granted_at = excluded.granted_at, "
            "name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE users.name END",
            (channel, user_id, role.value, name, by, time.time()),
        )

    async def revoke(self, channel: str, user_id: str) -> bool:
        changed = await self._db.execute(
            "DELETE FROM users WHERE channel = ? AND user_id = ?", (channel, user_id)
        )
        return changed > 0

    async def list(self, channel: str | None = None) -> list[UserGrant]:
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

    async def allow_group(self, channel: str, chat_id: str, *, by: str = "") -> None:
        await self._db.execute(
            "INSERT OR REPLACE INTO groups (channel, chat_id, granted_by, granted_at) "
            "VALUES (?, ?, ?, ?)",
            (channel, chat_id, by, time.time()),
        )

    async def remove_group(self, channel: str, chat_id: str) -> bool:
        changed = await self._db.execute(
            "DELETE FROM groups WHERE channel = ? AND chat_id = ?", (channel, chat_id)
        )
        return changed > 0
