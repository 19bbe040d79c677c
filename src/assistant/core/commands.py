"""What a feature adds to the chat besides tools: slash commands and button actions.

A command is answered without the model (no tokens, nothing a prompt can steer); an action is
the press of a button a feature sent, routed back to it by the prefix of its id
(``prefix:rest``). The router dispatches both; features declare them in their ``Feature``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from assistant.core.messages import InboundMessage, OutFile
from assistant.core.ports import ChatIO
from assistant.core.roles import Permission, Role

_NAME = re.compile(r"[a-z0-9_]{1,32}")
_COMMAND = re.compile(r"/(\S+)(?:\s+(.*))?\Z", re.DOTALL)


async def _no_side_effect(what: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class CommandCall:
    message: InboundMessage
    role: Role
    permissions: frozenset[Permission]
    args: str
    io: ChatIO | None = None
    mark_side_effect: Callable[[str], Awaitable[None]] = _no_side_effect


@dataclass(frozen=True, slots=True)
class Reply:
    """A command's answer that carries pictures or files (a chart); a handler may return
    a plain ``str`` otherwise. The files are sent with the text as their caption."""

    text: str
    files: tuple[OutFile, ...] = ()


CommandHandler = Callable[[CommandCall], Awaitable[str | Reply]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    summary: str
    permission: Permission
    handler: CommandHandler
    usage: str = ""
    aliases: tuple[str, ...] = ()
    immediate: bool = False  # run at once, not behind the chat's queued messages
    listed: bool = True  # in /help and the platforms' command menus (/start is not)
    # the feature behind it is not set up: this one line (how to set it up) is the answer
    setup_hint: str = ""


def parse_command(text: str) -> tuple[str, str] | None:
    """``/name@bot args`` → (name, args); None when the text is not a command."""
    match = _COMMAND.match(text)
    if match is None:
        return None
    name = match.group(1).split("@", 1)[0].lower()
    if not _NAME.fullmatch(name):
        return None
    return name, (match.group(2) or "").strip()


@dataclass(frozen=True, slots=True)
class ActionCall:
    message: InboundMessage  # kind ACTION; text is the full action id
    role: Role
    argument: str  # the part after "prefix:"


@dataclass(frozen=True, slots=True)
class ActionResult:
    toast: str = ""  # shown to the presser
    alert: bool = False  # as a dialog instead of a toast
    edit_text: str | None = None  # new text for the message that carried the buttons
    plain: bool = False  # edit_text is plain text (it quotes what others wrote: an alert)


ActionHandler = Callable[[ActionCall], Awaitable[ActionResult]]


@dataclass(frozen=True, slots=True)
class Action:
    prefix: str
    permission: Permission
    handler: ActionHandler


class Canceller(Protocol):
    """What ``/cancel`` reaches in a feature that runs work for a chat (commands on servers,
    approval requests)."""

    async def cancel(self, call: CommandCall) -> str | None:
        """Stop what this feature runs in the call's chat; what was stopped, or None."""
        ...


class JobCanceller(Protocol):
    """``/cancel ID``: the scheduler cancels one of its jobs."""

    async def cancel_job(self, call: CommandCall) -> str: ...


class HostStatus(Protocol):
    """``/status HOST``: a server's status (the SSH feature)."""

    async def host_status(self, call: CommandCall) -> str: ...


class HostReport(Protocol):
    """``/status HOST`` of a host the monitor watches: its latest numbers and a chart."""

    async def host_report(self, call: CommandCall) -> Reply | None:
        """None when the monitor does not watch that host (``HostStatus`` answers then)."""
        ...
