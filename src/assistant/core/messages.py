"""Frozen message types: the only objects that cross the channel boundary.

Channel adapters turn platform JSON into :class:`InboundMessage` and render
:class:`OutboundMessage` back; SDK objects never travel further.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class MessageKind(StrEnum):
    CHAT = "chat"  # something a person wrote
    ACTION = "action"  # a button press; ``text`` holds the opaque action id
    SCHEDULED = "scheduled"  # a job firing; runs as the job's creator


@dataclass(frozen=True, slots=True)
class ChatRef:
    """Where a message came from and where its reply goes."""

    channel: str
    chat_id: str
    is_group: bool = False
    thread_id: str | None = None

    @property
    def key(self) -> str:
        """The conversation key: one conversation per chat (and per thread)."""
        base = f"{self.channel}:{self.chat_id}"
        return f"{base}:{self.thread_id}" if self.thread_id else base


@dataclass(frozen=True, slots=True)
class Sender:
    user_id: str
    name: str = ""
    username: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the platform holds; ``ref`` is the adapter's handle to download it."""

    kind: Literal["image", "document", "voice"]
    ref: str
    name: str = ""
    mime_type: str = ""
    size: int | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    chat: ChatRef
    sender: Sender
    text: str
    platform_id: str  # unique for the bot within the channel: with ``bot``, the dedupe key
    kind: MessageKind = MessageKind.CHAT
    message_id: str | None = None  # the platform's id of this message (reply target)
    attachments: tuple[Attachment, ...] = ()
    reply_to_text: str | None = None
    forwarded_from: str | None = None
    addressed: bool = True  # in a group: mentioned, replied to, or a command
    received_at: float = field(default_factory=time.time)
    # Facts that are not message text: an adapter's (a callback query id), or a scheduled
    # firing's: "job" (the job id) and "run": "notice" (deliver ``text``) or "turn" (a prompt).
    meta: Mapping[str, str] = field(default_factory=dict)
    # The bot that received it (Telegram bot id, Feishu app id): a new token, or a Bot API
    # server whose update ids start again, must not collide with what an earlier bot received.
    bot: str = ""


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action_id: str  # opaque, short; comes back as an ACTION message
    style: Literal["default", "primary", "danger"] = "default"


@dataclass(frozen=True, slots=True)
class OutFile:
    """A picture or a file the assistant sends (a chart, a report the model wrote).

    ``kind`` says how the platform should show it: ``image`` inline (PNG/JPEG), ``document``
    as a file to download. Channels without file support send ``name`` as a line of text.
    """

    name: str
    data: bytes = field(repr=False)
    mime_type: str
    kind: Literal["image", "document"] = "document"


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    chat: ChatRef
    text: str
    format: Literal["markdown", "plain"] = "markdown"
    reply_to: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    files: tuple[OutFile, ...] = ()  # sent with (before) the text; the text is their caption


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the bot sent, so it can be edited later."""

    chat: ChatRef
    message_id: str
