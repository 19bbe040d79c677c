"""Pairing: a stranger gets a short code; the owner approves it and the stranger is in.

Codes are 8 characters from an alphabet without 0/O/1/I, expire after an hour, and at most
three are pending per channel. A stranger who writes again gets the same code.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass

from assistant.core.errors import NotFound
from assistant.core.roles import Role
from assistant.store.db import Database, transaction
from assistant.store.users import grant_role, record_change

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


@dataclass(frozen=True, slots=True)
class PairingRequest:
    code: str
    channel: str
    user_id: str
    name: str
    chat_id: str
    created_at: float
    expires_at: float


def normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _request(row: sqlite3.Row) -> PairingRequest:
    return PairingRequest(**{k: row[k] for k in row.keys()})  # noqa: SIM118


class Pairing:
    def __init__(self, db: Database, *, ttl: float = 3600.0, max_pending: int = 3) -> None:
        self._db = db
        self.ttl = ttl
        self.max_pending = max_pending

    async def request(
        self, channel: str, user_id: str, *, name: str, chat_id: str
    ) -> tuple[PairingRequest | None, bool]:
        """The stranger's pending code (created if needed) and whether it is new.

        (None, False) when the channel already has ``max_pending`` other pending requests.
        """
        now = time.time()

        def run(conn: sqlite3.Connection) -> tuple[PairingRequest | None, bool]:
            with transaction(conn):
                conn.execute("DELETE FROM pairing WHERE expires_at <= ?", (now,))
                row = conn.execute(
                    "SELECT * FROM pairing WHERE channel = ? AND user_id = ?", (channel, user_id)
                ).fetchone()
                if row is not None:
                    return _request(row), False
                pending = conn.execute(
                    "SELECT count(*) FROM pairing WHERE channel = ?", (channel,)
                ).fetchone()[0]
                if pending >= self.max_pending:
                    return None, False
                code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
                conn.execute(
                    "INSERT INTO pairing (code, channel, user_id, name, chat_id, created_at, "
                    "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (code, channel, user_id, name, chat_id, now, now + self.ttl),
                )
                row = conn.execute("SELECT * FROM pairing WHERE code = ?", (code,)).fetchone()
                return _request(row), True

        return await self._db.call(run)

    async def pending(self, channel: str | None = None) -> list[PairingRequest]:
        rows = await self._db.fetchall(
            "SELECT * FROM pairing WHERE expires_at > ? AND (? IS NULL OR channel = ?) "
            "ORDER BY created_at",
            (time.time(), channel, channel),
        )
        return [_request(r) for r in rows]

    async def approve(self, channel: str, code: str, role: Role, *, by: str) -> PairingRequest:
        """Grant the requester ``role``; NotFound for an unknown or expired code."""
        wanted = normalize_code(code)

        def run(conn: sqlite3.Connection) -> PairingRequest:
            with transaction(conn):
                row = conn.execute(
                    "SELECT * FROM pairing WHERE code = ? AND channel = ? AND expires_at > ?",
                    (wanted, channel, time.time()),
                ).fetchone()
                if row is None:
                    raise NotFound(
                        f"no pending {channel} pairing request with code {wanted}; it may have "
                        "expired (codes last an hour): ask the person to write to the bot again"
                    )
                request = _request(row)
                grant_role(conn, channel, request.user_id, role, name=request.name, by=by)
                conn.execute("DELETE FROM pairing WHERE code = ?", (wanted,))
                record_change(
                    conn,
                    actor=by,
                    action="pairing.approve",
                    channel=channel,
                    subject=request.user_id,
                    role=role.value,
                    detail=request.name,
                )
                return request

        return await self._db.call(run)

    async def revoke(self, channel: str, code: str, *, by: str) -> PairingRequest:
        """Discard a pending request; NotFound for an unknown code."""
        wanted = normalize_code(code)

        def run(conn: sqlite3.Connection) -> PairingRequest:
            with transaction(conn):
                row = conn.execute(
                    "SELECT * FROM pairing WHERE code = ? AND channel = ?", (wanted, channel)
                ).fetchone()
                if row is None:
                    raise NotFound(f"no pending {channel} pairing request with code {wanted}")
                conn.execute("DELETE FROM pairing WHERE code = ?", (wanted,))
                request = _request(row)
                record_change(
                    conn,
                    actor=by,
                    action="pairing.revoke",
                    channel=channel,
                    subject=request.user_id,
                    detail=request.name,
                )
                return request

        return await self._db.call(run)
