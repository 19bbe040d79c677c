"""The Tool contract and the per-call context a tool receives: what a feature adds for the
model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from assistant.core.messages import ChatRef, OutFile, Sender
from assistant.core.ports import ChatIO
from assistant.core.roles import Permission, Role

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who is asking, where, and in which turn. Built by the agent, never by the model."""

    turn_id: str
    chat: ChatRef
    sender: Sender
    role: Role
    permissions: frozenset[Permission]
    timezone: ZoneInfo
    mark_side_effect: Callable[[str], Awaitable[None]]
    io: ChatIO | None = None  # progress messages in the chat, where the channel allows
    hold: Callable[[], AbstractAsyncContextManager[None]] | None = None  # pause the deadline
    # add a picture or file to the turn's reply (sent with it, exactly once); False: the reply
    # carries as many files as it may. None: this turn has no reply to carry files.
    attach: Callable[[OutFile], bool] | None = None

    @property
    def actor(self) -> str:
        return f"{self.chat.channel}:{self.sender.user_id}"


@dataclass(frozen=True, slots=True)
class ToolResult:
    content: str
    is_error: bool = False

    @classmethod
    def error(cls, message: str) -> ToolResult:
        return cls(message, is_error=True)


class Tool(Protocol[P]):
    """A capability the model may call.

    ``Params`` is a pydantic model: its JSON schema is what the model sees, and arguments
    are validated against it before ``call``. ``permission`` is checked by the policy;
    ``side_effects`` tools are recorded in the inbox before they run, so a crash never makes
    them run twice.
    """

    name: str
    description: str
    permission: Permission
    side_effects: bool
    Params: type[P]

    async def call(self, params: P, ctx: ToolContext) -> ToolResult: ...
