"""Pairing: a stranger gets a short code; the owner approves it and the stranger is in.

Codes are 8 characters from an alphabet without 0/O/1/I and expire after an hour. Limits are
per stranger: one pending code each (a stranger who writes again gets the same code), so a
few strangers cannot block pairing for everyone else. Only to bound the table, a channel keeps
at most ``max_pending`` requests: past that the oldest one is dropped (its person gets a new
code by writing again).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from assistant.core.errors import NotFound
from assistant.core.ports import Clock, SystemClock
from assistant.core.roles import Role
from assistant.store.db import Database, transaction
from assistant.store.users import grant_role, record_change

log = structlog.get_logger(__name__)

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


Listener = Callable[[PairingRequest], Awaitable[None]]  # must not raise


def normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _request(row: sqlite3.Row) -> PairingRequest:
    return PairingRequest(**{k: row[k] for k in row.keys()})  # noqa: SIM118


class Pairing:
    def __init__(
        self,
        db: Database,
        *,
        ttl: float = 3600.0,
        max_pending: int = 100,
        clock: Clock | None = None,
    ) -> None:
        self._db = db
        self.ttl = ttl
        self.max_pending = max_pending
        self._clock = clock or SystemClock()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """``listener`` is told of every new request (after it is stored)."""
        self._listeners.append(listener)

    async def request(
        self, channel: str, user_id: str, *, name: str, chat_id: str
    ) -> tuple[PairingRequest, bool]:
        """The stranger's pending code (created if needed) and whether it is new."""
        now = self._clock.time()

        def run(conn: sqlite3.Connection) -> tuple[PairingRequest, bool]:
            with transaction(conn):
                conn.execute("DELETE FROM pairing WHERE expires_at <= ?", (now,))
                row = conn.execute(
                    "SELECT * FROM pairing WHERE channel = ? AND user_id = ?", (channel, user_id)
                ).fetchone()
                if row is not None:
                    return _request(row), False
                evicted = conn.execute(
                    "DELETE FROM pairing WHERE code IN (SELECT code FROM pairing WHERE channel = ? "
                    "ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
                    (channel, self.max_pending - 1),
                ).rowcount
                if evicted:
                    log.warning("pairing.evicted", channel=channel, requests=evicted)
                code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
                conn.execute(
                    "INSERT INTO pairing (code, channel, user_id, name, chat_id, created_at, "
                    "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (code, channel, user_id, name, chat_id, now, now + self.ttl),
                )
                row = conn.execute("SELECT * FROM pairing WHERE code = ?", (code,)).fetchone()
                return _request(row), True

        request, fresh = await self._db.call(run)
        if fresh:
            for listener in self._listeners:
                await listener(request)
        return request, fresh

    async def pending(self, channel: str | None = None) -> list[PairingRequest]:
        rows = await self._db.fetchall(
            "SELECT * FROM pairing WHERE expires_at > ? AND (? IS NULL OR channel = ?) "
            "ORDER BY created_at",
            (self._clock.time(), channel, channel),
        )
        return [_request(r) for r in rows]

    async def approve(self, channel: str, code: str, role: Role, *, by: str) -> PairingRequest:
        """Grant the requester ``role``; NotFound for an unknown or expired code."""
        wanted = normalize_code(code)

        def run(conn: sqlite3.Connection) -> PairingRequest:
            with transaction(conn):
                row = conn.execute(
                    "SELECT * FROM pairing WHERE code = ? AND channel = ? AND expires_at > ?",
                    (wanted, channel, self._clock.time()),
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
