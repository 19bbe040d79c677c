"""Conversations, their messages, summaries, and the token accounting of turns."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.core.messages import OutFile
from assistant.store.db import Database, transaction
from assistant.store.inbox import set_processing, set_replying


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    chat_key: str
    model: str | None
    summary: str | None
    summary_upto: int  # messages up to this id are covered by the summary
    started_at: float


@dataclass(frozen=True, slots=True)
class StoredMessage:
    role: str
    content: str
    tool_calls: str | None = None  # JSON, as the agent encodes it
    tool_call_id: str | None = None
    name: str | None = None
    tokens: int = 0
    id: int = 0


@dataclass(frozen=True, slots=True)
class TurnRecord:
    turn_id: str
    conversation_id: int
    chat_key: str
    inbox_id: int | None
    provider: str | None
    prompt_tokens: int
    completion_tokens: int
    steps: int
    status: str
    started_at: float
    finished_at: float
    sender: str | None = None  # "channel:user_id" of the person the turn was for


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        chat_key=row["chat_key"],
        model=row["model"],
        summary=row["summary"],
        summary_upto=row["summary_upto"],
        started_at=row["started_at"],
    )


_SELECT = "SELECT id, chat_key, model, summary, summary_upto, started_at FROM conversations"


def _active(conn: sqlite3.Connection, chat_key: str) -> Conversation:
    row = conn.execute(f"{_SELECT} WHERE chat_key = ? AND ended_at IS NULL", (chat_key,)).fetchone()
    if row is None:
        conn.execute(
            "INSERT OR IGNORE INTO conversations (chat_key, started_at) VALUES (?, ?)",
            (chat_key, time.time()),
        )
        row = conn.execute(
            f"{_SELECT} WHERE chat_key = ? AND ended_at IS NULL", (chat_key,)
        ).fetchone()
    return _conversation(row)


def _history(conn: sqlite3.Connection, conversation: Conversation) -> list[StoredMessage]:
    rows = conn.execute(
        "SELECT id, role, content, tool_calls, tool_call_id, name, tokens FROM messages "
        "WHERE conversation_id = ? AND id > ? ORDER BY id",
        (conversation.id, conversation.summary_upto),
    )
    return [
        StoredMessage(
            id=r["id"],
            role=r["role"],
            content=r["content"],
            tool_calls=r["tool_calls"],
            tool_call_id=r["tool_call_id"],
            name=r["name"],
            tokens=r["tokens"],
        )
        for r in rows
    ]


class Conversations:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def active(self, chat_key: str) -> Conversation:
        """The chat's current conversation, started if there is none."""
        return await self._db.call(_active, chat_key)

    async def get(self, conversation_id: int) -> Conversation | None:
        row = await self._db.fetchone(f"{_SELECT} WHERE id = ?", (conversation_id,))
        return _conversation(row) if row else None

    async def start_new(self, chat_key: str) -> tuple[Conversation | None, Conversation]:
        """End the current conversation and start a fresh one; returns (ended, new).

        A conversation without messages is already fresh: it is kept and ``ended`` is None.
        """

        def run(conn: sqlite3.Connection) -> tuple[Conversation | None, Conversation]:
            with transaction(conn):
                row = conn.execute(
                    f"{_SELECT} WHERE chat_key = ? AND ended_at IS NULL", (chat_key,)
                ).fetchone()
                if (
                    row is not None
                    and not conn.execute(
                        "SELECT 1 FROM messages WHERE conversation_id = ? LIMIT 1", (row["id"],)
                    ).fetchone()
                ):
                    return None, _conversation(row)  # already fresh: nothing to end
                now = time.time()
                conn.execute(
                    "UPDATE conversations SET ended_at = ? WHERE chat_key = ? AND ended_at IS NULL",
                    (now, chat_key),
                )
                model = row["model"] if row else None
                conn.execute(
                    "INSERT INTO conversations (chat_key, started_at, model) VALUES (?, ?, ?)",
                    (chat_key, now, model),
                )
                return (_conversation(row) if row else None), _active(conn, chat_key)

        return await self._db.call(run)

    async def set_model(self, conversation_id: int, model: str | None) -> None:
        await self._db.execute(
            "UPDATE conversations SET model = ? WHERE id = ?", (model, conversation_id)
        )

    async def history(self, conversation: Conversation) -> list[StoredMessage]:
        """Messages not yet covered by the summary, oldest first."""
        return await self._db.call(_history, conversation)

    async def begin_turn(
        self, chat_key: str, inbox_id: int
    ) -> tuple[Conversation, list[StoredMessage]]:
        """Mark the inbox entry as processing; return the chat's active conversation (started
        if there is none) and its history. One trip to the database thread instead of three:
        each trip costs more than the queries (docs/performance.md)."""

        def run(conn: sqlite3.Connection) -> tuple[Conversation, list[StoredMessage]]:
            set_processing(conn, inbox_id)
            conversation = _active(conn, chat_key)
            return conversation, _history(conn, conversation)

        return await self._db.call(run)

    async def commit_turn(
        self,
        turn: TurnRecord,
        messages: list[StoredMessage],
        *,
        reply: str | None,
        summary: tuple[str, int] | None = None,
        files: Sequence[OutFile] = (),
    ) -> None:
        """Store a finished turn atomically: its messages, its usage, the conversation's new
        summary (text, id of the last message it covers), and (when it came from the inbox)
        the reply to deliver, with its ``files``."""

        def run(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                if summary is not None:
                    conn.execute(
                        "UPDATE conversations SET summary = ?, summary_upto = ? WHERE id = ?",
                        (summary[0], summary[1], turn.conversation_id),
                    )
                conn.executemany(
                    "INSERT INTO messages (conversation_id, turn_id, role, content, tool_calls, "
                    "tool_call_id, name, tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            turn.conversation_id,
                            turn.turn_id,
                            m.role,
                            m.content,
                            m.tool_calls,
                            m.tool_call_id,
                            m.name,
                            m.tokens,
                            turn.finished_at,
                        )
                        for m in messages
                    ],
                )
                conn.execute(
                    "INSERT OR REPLACE INTO turns (turn_id, conversation_id, chat_key, inbox_id, "
                    "provider, prompt_tokens, completion_tokens, steps, status, started_at, "
                    "finished_at, sender) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        turn.turn_id,
                        turn.conversation_id,
                        turn.chat_key,
                        turn.inbox_id,
                        turn.provider,
                        turn.prompt_tokens,
                        turn.completion_tokens,
                        turn.steps,
                        turn.status,
                        turn.started_at,
                        turn.finished_at,
                        turn.sender,
                    ),
                )
                if turn.inbox_id is not None and reply is not None:
                    set_replying(conn, turn.inbox_id, reply, files=files)

        await self._db.call(run)

    async def tokens_since(self, since: float) -> int:
        row = await self._db.fetchone(
            "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) AS n FROM turns "
            "WHERE started_at >= ?",
            (since,),
        )
        return int(row["n"]) if row else 0

    async def tokens_by_sender(self, since: float) -> dict[str, int]:
        """Tokens of the turns started since ``since``, per person ("channel:user_id")."""
        rows = await self._db.fetchall(
            "SELECT sender, sum(prompt_tokens + completion_tokens) AS n FROM turns "
            "WHERE started_at >= ? AND sender IS NOT NULL GROUP BY sender",
            (since,),
        )
        return {row["sender"]: int(row["n"]) for row in rows}

    async def tokens_in(self, conversation_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) AS n FROM turns "
            "WHERE conversation_id = ?",
            (conversation_id,),
        )
        return int(row["n"]) if row else 0
