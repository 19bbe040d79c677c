"""Protocols for the seams between layers. Implementations live elsewhere."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from assistant.core.messages import (
    Button,
    ChatRef,
    InboundMessage,
    OutboundMessage,
    Sender,
    SentMessage,
)

if TYPE_CHECKING:
    from aiohttp import web


class SubmitOutcome(StrEnum):
    ACCEPTED = "accepted"  # durably recorded; the platform may be acknowledged
    DUPLICATE = "duplicate"  # seen before; acknowledge and drop
    IGNORED = "ignored"  # not for us (stranger, not addressed); acknowledge and drop


InboundHandler = Callable[[InboundMessage], Awaitable[SubmitOutcome]]
"""The router's ``submit``: returns once the message is durable (or refused)."""

WebhookHandler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


@dataclass(frozen=True, slots=True)
class ChannelFeatures:
    edit: bool = False
    buttons: bool = False
    typing: bool = False
    max_text: int = 4000


class Channel(Protocol):
    """A chat platform adapter.

    ``run`` receives until cancelled and hands every message to ``on_message``; it
    acknowledges a message to the platform only after ``on_message`` returned. It raises
    ``ChannelAuthError`` when the platform refuses the credentials (the adapter stops) and
    ``ChannelUnavailable`` or any other error when it should be restarted with backoff.
    Sending works while ``run`` is not running (during drain).
    """

    @property
    def name(self) -> str: ...

    @property
    def features(self) -> ChannelFeatures: ...

    async def run(self, on_message: InboundHandler) -> None: ...

    async def send(self, message: OutboundMessage) -> list[SentMessage]: ...

    async def edit(
        self, sent: SentMessage, text: str, *, buttons: tuple[tuple[Button, ...], ...] = ()
    ) -> None: ...

    async def typing(self, chat: ChatRef) -> None: ...


class Recaller(Protocol):
    """Long-term memory as the agent sees it (implemented by ``assistant.memory``)."""

    async def recall(self, chat: ChatRef, sender: Sender, text: str) -> str | None:
        """A compact block of memories relevant to ``text`` for the system prompt, or None.

        Only memories this sender may see in this chat; never raises for a store problem.
        """
        ...


class ConversationArchive(Protocol):
    """Told when ``/new`` ends a conversation (memory stores a summary of it)."""

    async def conversation_ended(self, conversation_id: int, chat: ChatRef, sender: Sender) -> None:
        """Returns at once; the work it starts is owned by the implementation."""
        ...


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    exit_status: int
    output: str  # stdout and stderr, possibly cut


class CommandRunner(Protocol):
    """Runs a command on a configured SSH host (implemented by ``assistant.ssh``)."""

    def hosts(self) -> list[str]: ...

    async def run(self, host: str, command: str, *, timeout: float) -> CommandOutcome: ...


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (wall clock)."""
        ...

    def monotonic(self) -> float: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
