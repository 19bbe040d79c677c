"""Alert state in SQLite: one row per firing of a key (fired → acknowledged → resolved), the
pictures it carries while it may escalate, and the silences (maintenance windows). Kept so
that a restart neither re-sends an alert nor forgets where its escalation stood, nor its
chart."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from enum import StrEnum

from assistant.core.messages import OutFile
from assistant.core.ports import Alert, Severity
from assistant.store.db import Database, transaction

MAX_FILES = 4  # pictures kept with an alert (a monitor alert has one chart, ~60 KB)
MAX_FILE_BYTES = 1024 * 1024  # their size together, per alert


class Status(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Pending(StrEnum):
    """A notice still to send to the routes an alert reached."""

    RESOLVE = "resolve"
    ACK = "ack"


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    key: str
    severity: Severity
    status: Status
    title: str
    detail: str
    host: str | None
    source: str
    params: dict[str, str]
    fired_at: float
    notified: int  # routes reached so far (0: nothing sent yet)
    next_at: float | None  # when the next route is due, or a held alert is looked at again
    held_by: str | None  # why nothing was sent yet: "silence:ID" or "cooldown"
    acked_by: str | None
    acked_at: float | None
    resolved_at: float | None
    resolve_detail: str | None
    pending: Pending | None


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    pattern: str
    until: float
    created_by: str
    created_at: float


def _row(row: sqlite3.Row) -> AlertRow:
    return AlertRow(
        id=row["id"],
        key=row["key"],
        severity=Severity(row["severity"]),
        status=Status(row["status"]),
        title=row["title"],
        detail=row["detail"],
        host=row["host"],
        source=row["source"],
        params=json.loads(row["params"]) if row["params"] else {},
        fired_at=row["fired_at"],
        notified=row["notified"],
        next_at=row["next_at"],
        held_by=row["held_by"],
        acked_by=row["acked_by"],
        acked_at=row["acked_at"],
        resolved_at=row["resolved_at"],
        resolve_detail=row["resolve_detail"],
        pending=Pending(row["pending"]) if row["pending"] else None,
    )


def kept_files(files: tuple[OutFile, ...]) -> tuple[OutFile, ...]:
    """The files an alert keeps: the first ``MAX_FILES``, as far as they fit in
    ``MAX_FILE_BYTES`` together."""
    kept: list[OutFile] = []
    size = 0
    for file in files[:MAX_FILES]:
        size += len(file.data)
        if size > MAX_FILE_BYTES:
            break
        kept.append(file)
    return tuple(kept)


def _keep_files(conn: sqlite3.Connection, alert_id: int, files: tuple[OutFile, ...]) -> None:
    conn.execute("DELETE FROM alert_files WHERE alert_id = ?", (alert_id,))
    conn.executemany(
        "INSERT INTO alert_files (alert_id, idx, name, mime_type, kind, data) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(alert_id, i, f.name, f.mime_type, f.kind, f.data) for i, f in enumerate(files)],
    )


def _silence(row: sqlite3.Row) -> Silence:
    return Silence(row["id"], row["pattern"], row["until"], row["created_by"], row["created_at"])


class AlertStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def fire(
        self, alert: Alert, params: dict[str, str] | None, now: float
    ) -> tuple[AlertRow, bool]:
        """Record that ``alert`` holds: (its row, whether that is news — a new firing or
        another severity, whose files are kept with it, see ``kept_files``)."""

        def run(conn: sqlite3.Connection) -> tuple[AlertRow, bool]:
            with transaction(conn):
                row = conn.execute(
                    "SELECT * FROM alerts WHERE key = ? AND status <> 'resolved'", (alert.key,)
                ).fetchone()
                values = (
                    alert.severity.value,
                    alert.title,
                    alert.detail,
                    alert.host,
                    alert.source,
                    json.dumps(params) if params else None,
                )
                if row is not None and row["severity"] == alert.severity.value:
                    return _row(row), False
                if row is not None:  # another severity: a new alert under the same id
                    conn.execute(
                        "UPDATE alerts SET severity = ?, title = ?, detail = ?, host = ?, "
                        "source = ?, params = ?, status = 'firing', fired_at = ?, notified = 0, "
                        "next_at = ?, held_by = NULL, acked_by = NULL, acked_at = NULL, "
                        "pending = NULL WHERE id = ?",
                        (*values, now, now, row["id"]),
                    )
                    alert_id = row["id"]
                else:
                    alert_id = conn.execute(
                        "INSERT INTO alerts (severity, title, detail, host, source, params, key, "
                        "status, fired_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'firing', ?, ?)",
                        (*values, alert.key, now, now),
                    ).lastrowid
                _keep_files(conn, alert_id, kept_files(alert.files))
                found = conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
                return _row(found), True

        return await self._db.call(run)

    async def resolve(self, key: str, detail: str, now: float) -> AlertRow | None:
        """Mark the open alert of ``key`` resolved (a resolve notice pending when it was
        sent anywhere); None when nothing was open."""

        def run(conn: sqlite3.Connection) -> AlertRow | None:
            with transaction(conn):
                row = conn.execute(
                    "SELECT * FROM alerts WHERE key = ? AND status <> 'resolved'", (key,)
                ).fetchone()
                if row is None:
                    return None
                conn.execute(
                    "UPDATE alerts SET status = 'resolved', resolved_at = ?, resolve_detail = ?, "
                    "next_at = NULL, pending = CASE WHEN notified > 0 THEN 'resolve' END "
                    "WHERE id = ?",
                    (now, detail, row["id"]),
                )
                conn.execute("DELETE FROM alert_files WHERE alert_id = ?", (row["id"],))
                return _row(
                    conn.execute("SELECT * FROM alerts WHERE id = ?", (row["id"],)).fetchone()
                )

        return await self._db.call(run)

    async def acknowledge(self, alert_id: int, by: str, now: float) -> AlertRow | None:
        """Acknowledge a firing alert; None when it is not firing (the row as it is is
        returned by ``get``)."""

        def run(conn: sqlite3.Connection) -> AlertRow | None:
            with transaction(conn):
                cur = conn.execute(
                    "UPDATE alerts SET status = 'acknowledged', acked_by = ?, acked_at = ?, "
                    "next_at = NULL, pending = CASE WHEN notified > 0 THEN 'ack' END "
                    "WHERE id = ? AND status = 'firing'",
                    (by, now, alert_id),
                )
                if cur.rowcount == 0:
                    return None
                conn.execute("DELETE FROM alert_files WHERE alert_id = ?", (alert_id,))
                return _row(
                    conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
                )

        return await self._db.call(run)

    async def get(self, alert_id: int) -> AlertRow | None:
        row = await self._db.fetchone("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        return _row(row) if row is not None else None

    async def files(self, alert_id: int) -> tuple[OutFile, ...]:
        """The pictures kept with an alert that may still escalate."""
        rows = await self._db.fetchall(
            "SELECT name, mime_type, kind, data FROM alert_files WHERE alert_id = ? ORDER BY idx",
            (alert_id,),
        )
        return tuple(
            OutFile(
                r["name"],
                bytes(r["data"]),
                r["mime_type"],
                "image" if r["kind"] == "image" else "document",
            )
            for r in rows
        )

    async def open(self) -> list[AlertRow]:
        rows = await self._db.fetchall(
            "SELECT * FROM alerts WHERE status <> 'resolved' ORDER BY id"
        )
        return [_row(r) for r in rows]

    async def due(self, now: float) -> list[AlertRow]:
        """Firing alerts whose next step is due, and alerts with a notice to send."""
        rows = await self._db.fetchall(
            "SELECT * FROM alerts WHERE (status = 'firing' AND next_at <= ?) "
            "OR pending IS NOT NULL ORDER BY id",
            (now,),
        )
        return [_row(r) for r in rows]

    async def next_due(self) -> float | None:
        row = await self._db.fetchone(
            "SELECT MIN(next_at) FROM alerts WHERE status = 'firing' AND next_at IS NOT NULL"
        )
        return row[0] if row is not None else None

    async def last_resolved(self, key: str) -> AlertRow | None:
        """The latest resolved firing of ``key`` that was sent somewhere."""
        row = await self._db.fetchone(
            "SELECT * FROM alerts WHERE key = ? AND status = 'resolved' AND notified > 0 "
            "ORDER BY resolved_at DESC LIMIT 1",
            (key,),
        )
        return _row(row) if row is not None else None

    async def reschedule(
        self, alert_id: int, next_at: float | None, held_by: str | None = None
    ) -> None:
        """When a firing alert is looked at next (None: not again), and what holds it back."""
        await self._db.execute(
            "UPDATE alerts SET next_at = ?, held_by = ? WHERE id = ? AND status = 'firing'",
            (next_at, held_by, alert_id),
        )

    async def advance(self, row: AlertRow, notified: int, next_at: float | None) -> bool:
        """Record that ``row`` goes to its next route(s) now, unless it changed since it was
        read (acknowledged, resolved, fired anew): whether it may be sent."""
        count = await self._db.execute(
            "UPDATE alerts SET notified = ?, next_at = ?, held_by = NULL "
            "WHERE id = ? AND status = 'firing' AND notified = ? AND fired_at = ?",
            (notified, next_at, row.id, row.notified, row.fired_at),
        )
        return count > 0

    async def take_pending(self, row: AlertRow) -> bool:
        """Clear ``row``'s pending notice, unless another replaced it since it was read."""
        assert row.pending is not None
        count = await self._db.execute(
            "UPDATE alerts SET pending = NULL WHERE id = ? AND pending = ?",
            (row.id, row.pending.value),
        )
        return count > 0

    async def release(self, held_by: str, now: float) -> None:
        """Alerts held by ``held_by`` are looked at again now."""
        await self._db.execute(
            "UPDATE alerts SET next_at = ? WHERE held_by = ? AND status = 'firing'",
            (now, held_by),
        )

    async def prune(self, before: float) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "DELETE FROM alerts WHERE status = 'resolved' AND resolved_at < ? "
                    "AND pending IS NULL",
                    (before,),
                )
                conn.execute("DELETE FROM alert_silences WHERE until < ?", (before,))

        await self._db.call(run)

    # --- silences ------------------------------------------------------------------------

    async def silence(self, pattern: str, until: float, by: str, now: float) -> Silence:
        def run(conn: sqlite3.Connection) -> Silence:
            with transaction(conn):
                cur = conn.execute(
                    "INSERT INTO alert_silences (pattern, until, created_by, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (pattern, until, by, now),
                )
                return Silence(int(cur.lastrowid or 0), pattern, until, by, now)

        return await self._db.call(run)

    async def silences(self, now: float) -> list[Silence]:
        rows = await self._db.fetchall(
            "SELECT * FROM alert_silences WHERE ended_at IS NULL AND until > ? ORDER BY id", (now,)
        )
        return [_silence(r) for r in rows]

    async def unsilence(self, silence_id: int, now: float) -> Silence | None:
        def run(conn: sqlite3.Connection) -> Silence | None:
            with transaction(conn):
                row = conn.execute(
                    "SELECT * FROM alert_silences WHERE id = ? AND ended_at IS NULL AND until > ?",
                    (silence_id, now),
                ).fetchone()
                if row is None:
                    return None
                conn.execute(
                    "UPDATE alert_silences SET ended_at = ? WHERE id = ?", (now, silence_id)
                )
                return _silence(row)

        return await self._db.call(run)
