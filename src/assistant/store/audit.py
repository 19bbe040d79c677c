"""The audit log: append-only records, each carrying the hash of the one before.

``hash = sha256(id | at | kind | actor | data | prev)`` over canonical JSON ``data``. Editing,
deleting or reordering records breaks the chain at a place ``verify`` names. Secrets never
reach it: every string in ``data`` passes the redactor first.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from assistant.core.redact import Redactor
from assistant.store.db import Database, transaction

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: float
    kind: str
    actor: str
    data: dict[str, Any]
    prev: str
    hash: str


def _digest(record_id: int, at: float, kind: str, actor: str, data: str, prev: str) -> str:
    payload = f"{record_id}|{at!r}|{kind}|{actor}|{data}|{prev}".encode()
    return hashlib.sha256(payload).hexdigest()


def append_record(
    conn: sqlite3.Connection, kind: str, actor: str, data: dict[str, Any], redactor: Redactor
) -> int:
    """Append one record; call inside the caller's transaction (the chain needs it)."""
    row = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev = row["hash"] if row else GENESIS
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    record_id = (int(seq[0]) if seq else 0) + 1
    at = time.time()
    text = json.dumps(redactor.mapping(data), sort_keys=True, ensure_ascii=False, default=str)
    actor = redactor.text(actor)
    conn.execute(
        "INSERT INTO audit (id, at, kind, actor, data, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (record_id, at, kind, actor, text, prev, _digest(record_id, at, kind, actor, text, prev)),
    )
    return record_id


def _record(row: sqlite3.Row) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        at=row["at"],
        kind=row["kind"],
        actor=row["actor"],
        data=json.loads(row["data"]),
        prev=row["prev"],
        hash=row["hash"],
    )


def verify_chain(conn: sqlite3.Connection) -> list[str]:
    """Problems found, first to last; empty when the log is intact."""
    problems: list[str] = []
    previous_id = 0
    previous_hash = GENESIS
    for row in conn.execute("SELECT * FROM audit ORDER BY id"):
        record_id = row["id"]
        if record_id != previous_id + 1:
            gone = (
                f"{previous_id + 1}"
                if record_id == previous_id + 2
                else (f"{previous_id + 1}–{record_id - 1}")
            )
            problems.append(f"record {gone} is missing (deleted)")
        elif row["prev"] != previous_hash:
            problems.append(
                f"record {record_id} does not follow record {previous_id} "
                "(records were reordered or one was replaced)"
            )
        expected = _digest(
            record_id, row["at"], row["kind"], row["actor"], row["data"], row["prev"]
        )
        if expected != row["hash"]:
            problems.append(f"record {record_id} was edited after it was written")
        previous_id = record_id
        previous_hash = row["hash"]
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    if seq and int(seq[0]) > previous_id:
        problems.append(f"the last record(s) after {previous_id} were deleted (up to {seq[0]})")
    return problems


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AuditLog:
    def __init__(self, db: Database, redactor: Redactor) -> None:
        self._db = db
        self._redactor = redactor

    async def append(self, kind: str, actor: str, **data: Any) -> int:
        def run(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                return append_record(conn, kind, actor, data, self._redactor)

        return await self._db.call(run)

    async def tail(self, limit: int = 20) -> list[AuditRecord]:
        rows = await self._db.fetchall("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [_record(r) for r in reversed(rows)]

    async def search(
        self, *, kind: str = "", actor: str = "", before: int | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """The newest records first: kinds starting with ``kind``, actors containing
        ``actor``, ids below ``before`` (the next page)."""
        where: list[str] = ["1 = 1"]
        args: list[str | int] = []
        if kind:
            where.append("kind LIKE ? ESCAPE '\\'")
            args.append(_like(kind) + "%")
        if actor:
            where.append("actor LIKE ? ESCAPE '\\'")
            args.append("%" + _like(actor) + "%")
        if before is not None:
            where.append("id < ?")
            args.append(before)
        rows = await self._db.fetchall(
            f"SELECT * FROM audit WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*args, limit),
        )
        return [_record(r) for r in rows]

    async def verify(self) -> list[str]:
        return await self._db.call(verify_chain)
