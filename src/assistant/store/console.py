"""The console's state: per-person tokens, browser sessions, and what each console chat was sent.

Tokens and session ids are stored as sha256 hex digests only; the secret itself is shown once
(a token at ``create``) or lives in the browser's cookie (a session). A per-person token also
grants its person the role in ``users`` (channel ``console``), so access, policy and audit see a
console session as that person; revoking the token takes the role back.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from assistant.core.roles import Role
from assistant.store.db import Database, transaction
from assistant.store.users import grant_role, record_change

CHANNEL = "console"
OWNER = "local"  # the person behind the owner's console token (and the terminal)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ConsoleToken:
    name: str
    role: Role
    created_by: str
    created_at: float
    last_used_at: float | None


@dataclass(frozen=True, slots=True)
class Session:
    person: str
    csrf: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Event:
    """One thing sent to a console chat: a new message, an edit of one, a notice."""

    id: int
    kind: str  # "message" | "edit" | "notice"
    message_id: str
    body: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.kind, "message_id": self.message_id, **self.body}


class ConsoleTokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, name: str, role: Role, *, by: str) -> str:
        """A new token for ``name`` (shown once); ``ValueError`` for a bad or taken name."""
        if not _NAME.match(name) or name == OWNER:
            raise ValueError(
                f"{name!r} is not a token name: 1-64 letters, digits, '.', '_' or '-', "
                f"not {OWNER!r}"
            )
        if role not in (Role.ADMIN, Role.USER):
            raise ValueError("a console token's role is admin or user")
        token = new_secret()

        def run(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                try:
                    conn.execute(
                        "INSERT INTO console_tokens (name, role, hash, created_by, created_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (name, role.value, digest(token), by, time.time()),
                    )
                except sqlite3.IntegrityError:
                    raise ValueError(
                        f"{name!r} has a token already; revoke it first "
                        f"(assistant users token revoke {name})"
                    ) from None
                grant_role(conn, CHANNEL, name, role, name=name, by=by)
                record_change(
                    conn,
                    actor=by,
                    action="token.create",
                    channel=CHANNEL,
                    subject=name,
                    role=role.value,
                )

        await self._db.call(run)
        return token

    async def revoke(self, name: str, *, by: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                gone = conn.execute("DELETE FROM console_tokens WHERE name = ?", (name,)).rowcount
                if not gone:
                    return False
                conn.execute("DELETE FROM console_sessions WHERE person = ?", (name,))
                conn.execute("DELETE FROM users WHERE channel = ? AND user_id = ?", (CHANNEL, name))
                record_change(conn, actor=by, action="token.revoke", channel=CHANNEL, subject=name)
                return True

        return await self._db.call(run)

    async def list(self) -> list[ConsoleToken]:
        rows = await self._db.fetchall(
            "SELECT name, role, created_by, created_at, last_used_at FROM console_tokens "
            "ORDER BY name"
        )
        return [
            ConsoleToken(
                r["name"], Role(r["role"]), r["created_by"], r["created_at"], r["last_used_at"]
            )
            for r in rows
        ]

    async def person(self, token: str, *, now: float) -> str | None:
        """Whose token this is (noting its use), or None."""
        row = await self._db.fetchone(
            "SELECT name, last_used_at FROM console_tokens WHERE hash = ?", (digest(token),)
        )
        if row is None:
            return None
        if row["last_used_at"] is None or now - row["last_used_at"] > 60:
            await self._db.execute(
                "UPDATE console_tokens SET last_used_at = ? WHERE name = ?", (now, row["name"])
            )
        return str(row["name"])


class ConsoleSessions:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def open(self, person: str, *, now: float, hours: float) -> tuple[str, Session]:
        """A new session: (the cookie's secret, the session)."""
        secret, csrf = new_secret(), new_secret()
        expires = now + hours * 3600
        await self._db.execute(
            "INSERT INTO console_sessions (hash, person, csrf, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (digest(secret), person, csrf, now, expires),
        )
        return secret, Session(person, csrf, expires)

    async def get(self, secret: str, *, now: float) -> Session | None:
        row = await self._db.fetchone(
            "SELECT person, csrf, expires_at FROM console_sessions WHERE hash = ?",
            (digest(secret),),
        )
        if row is None or row["expires_at"] <= now:
            return None
        return Session(row["person"], row["csrf"], row["expires_at"])

    async def close(self, secret: str) -> None:
        await self._db.execute("DELETE FROM console_sessions WHERE hash = ?", (digest(secret),))

    async def prune(self, *, now: float) -> int:
        return await self._db.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (now,))


class ConsoleEvents:
    """What was sent to each console chat, in order; ``after(chat, id)`` is what a client
    that saw up to ``id`` missed."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, chat: str, kind: str, message_id: str, body: dict[str, Any]) -> Event:
        event = await self._insert(chat, kind, message_id, body, once=False)
        assert event is not None
        return event

    async def append_once(
        self, chat: str, kind: str, message_id: str, body: dict[str, Any]
    ) -> Event | None:
        """The new event, or None when the chat has an event of this kind and ``message_id``
        already (a client sending the same message again)."""
        return await self._insert(chat, kind, message_id, body, once=True)

    async def _insert(
        self, chat: str, kind: str, message_id: str, body: dict[str, Any], *, once: bool
    ) -> Event | None:
        def run(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                if (
                    once
                    and conn.execute(
                        "SELECT 1 FROM console_events "
                        "WHERE chat = ? AND kind = ? AND message_id = ?",
                        (chat, kind, message_id),
                    ).fetchone()
                ):
                    return 0
                cursor = conn.execute(
                    "INSERT INTO console_events (chat, kind, message_id, body, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (chat, kind, message_id, json.dumps(body, ensure_ascii=False), time.time()),
                )
                return int(cursor.lastrowid or 0)

        event_id = await self._db.call(run)
        return Event(event_id, kind, message_id, body) if event_id else None

    async def after(self, chat: str, after: int, *, limit: int = 500) -> list[Event]:
        rows = await self._db.fetchall(
            "SELECT id, kind, message_id, body FROM console_events WHERE chat = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            (chat, after, limit),
        )
        return [Event(r["id"], r["kind"], r["message_id"], json.loads(r["body"])) for r in rows]

    async def before(self, chat: str, before: int, *, limit: int = 50) -> list[Event]:
        """The ``limit`` events before id ``before``, oldest first (a page of history)."""
        rows = await self._db.fetchall(
            "SELECT id, kind, message_id, body FROM console_events WHERE chat = ? AND id < ? "
            "ORDER BY id DESC LIMIT ?",
            (chat, before, limit),
        )
        rows.reverse()
        return [Event(r["id"], r["kind"], r["message_id"], json.loads(r["body"])) for r in rows]

    async def last_id(self, chat: str) -> int:
        row = await self._db.fetchone(
            "SELECT MAX(id) AS last FROM console_events WHERE chat = ?", (chat,)
        )
        return int(row["last"] or 0) if row else 0

    async def prune(self, *, before: float) -> int:
        return await self._db.execute("DELETE FROM console_events WHERE at < ?", (before,))


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    chat: str
    name: str
    mime_type: str
    kind: str
    data: bytes


class ConsoleFiles:
    """Pictures and files sent to console chats, for their clients to download; at most
    ``max_total`` bytes in all (the oldest go first) and, by ``prune``, not past their age."""

    def __init__(self, db: Database, *, max_total: int) -> None:
        self._db = db
        self._max_total = max_total

    async def put(self, chat: str, name: str, mime_type: str, kind: str, data: bytes) -> str:
        file_id = secrets.token_urlsafe(16)

        def run(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "INSERT INTO console_files (id, chat, name, mime_type, kind, size, data, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (file_id, chat, name, mime_type, kind, len(data), data, time.time()),
                )
                total = 0
                rows = conn.execute(
                    "SELECT id, size FROM console_files ORDER BY at DESC, rowid DESC"
                )
                for row in rows.fetchall():
                    total += row["size"]
                    if total > self._max_total and row["id"] != file_id:
                        conn.execute("DELETE FROM console_files WHERE id = ?", (row["id"],))

        await self._db.call(run)
        return file_id

    async def get(self, chat: str, file_id: str) -> StoredFile | None:
        row = await self._db.fetchone(
            "SELECT id, chat, name, mime_type, kind, data FROM console_files "
            "WHERE id = ? AND chat = ?",
            (file_id, chat),
        )
        if row is None:
            return None
        return StoredFile(
            row["id"], row["chat"], row["name"], row["mime_type"], row["kind"], bytes(row["data"])
        )

    async def prune(self, *, before: float) -> int:
        return await self._db.execute("DELETE FROM console_files WHERE at < ?", (before,))
