"""Approvers' TOTP secrets (RFC 6238), and the last time step each one used."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from assistant.store.db import Database, transaction


@dataclass(frozen=True, slots=True)
class TotpRecord:
    principal: str  # "channel:user_id"
    secret: str  # base32
    created_at: float
    last_step: int


class TotpStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, principal: str) -> TotpRecord | None:
        row = await self._db.fetchone("SELECT * FROM totp WHERE principal = ?", (principal,))
        return TotpRecord(**dict(row)) if row else None

    async def put(self, principal: str, secret: str) -> None:
        await self._db.execute(
            "INSERT INTO totp (principal, secret, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (principal) DO UPDATE SET secret = excluded.secret, "
            "created_at = excluded.created_at, last_step = 0",
            (principal, secret, time.time()),
        )

    async def remove(self, principal: str) -> bool:
        return await self._db.execute("DELETE FROM totp WHERE principal = ?", (principal,)) > 0

    async def principals(self) -> list[TotpRecord]:
        rows = await self._db.fetchall("SELECT * FROM totp ORDER BY principal")
        return [TotpRecord(**dict(r)) for r in rows]

    async def use_step(self, principal: str, step: int) -> bool:
        """Record ``step`` as used; False when it (or a later one) was used already: a code
        works once."""

        def run(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                changed = conn.execute(
                    "UPDATE totp SET last_step = ? WHERE principal = ? AND last_step < ?",
                    (step, principal, step),
                ).rowcount
                return changed > 0

        return await self._db.call(run)
