"""One piece of work the router dispatches: a recorded inbound message (a chat message, a
command, a button press, a job firing), and how far its reply got."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from assistant.core.messages import InboundMessage, OutFile
from assistant.router.reply_log import ReplyLog


def new_turn_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(slots=True)
class Work:
    inbox_id: int
    message: InboundMessage
    record: ReplyLog  # how far the reply's delivery got
    resend: str | None = None  # recovered: deliver this stored reply, do not re-run
    plain: bool = False  # the stored reply is plain text
    files: tuple[OutFile, ...] = ()  # recovered: the pictures and files the stored reply carries
    interrupted: str | None = None  # recovered: a side effect had started; tell the user
    turn_id: str = ""  # this attempt's id, in every log line (set by the log middleware)
