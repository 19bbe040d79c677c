"""Protocols for the seams between layers. Implementations live elsewhere."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from assistant.core.messages import (
    Attachment,
    Button,
    ChatRef,
    InboundMessage,
    OutboundMessage,
    OutFile,
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
    stream: bool = False  # show replies while they are generated (needs edit)
    max_text: int = 4000


Buttons = tuple[tuple[Button, ...], ...]


class PartSink(Protocol):
    """The delivery log of one reply, as the channel sends the reply's ``of`` parts.

    For each part, in order: ``delivered(i)`` is the message of a part already acknowledged
    (skip it); otherwise ``sending(i)`` just before a new message is sent for it, and
    ``sent(i, message)`` the moment the platform acknowledged it (sent, or edited in place).
    A crash between the two leaves part ``i`` marked as in flight: the only part that may then
    appear twice.
    """

    def delivered(self, index: int) -> SentMessage | None: ...

    async def sending(self, index: int, *, of: int) -> None: ...

    async def sent(self, index: int, message: SentMessage, *, of: int) -> None: ...


class Channel(Protocol):
    """A chat platform adapter.

    ``run`` receives until cancelled and hands every message to ``on_message``; it
    acknowledges a message to the platform only after ``on_message`` returned. It raises
    ``ChannelAuthError`` when the platform refuses the credentials (the adapter stops) and
    ``ChannelUnavailable`` or any other error when it should be restarted with backoff.
    Sending works while ``run`` is not running (during drain).

    ``send`` splits long text as the platform requires; ``edit`` replaces a sent message's
    text (and sends any overflow as new messages); both raise ``ChannelUnavailable`` for
    transient failures and return normally when the platform refused for good (e.g. the user
    blocked the bot), which they log. Given ``parts``, they record each part in it as it is
    acknowledged and skip the parts it says were delivered (``edit``: part 0 is the edited
    message).
    """

    @property
    def name(self) -> str: ...

    @property
    def features(self) -> ChannelFeatures: ...

    async def run(self, on_message: InboundHandler) -> None: ...

    async def send(
        self, message: OutboundMessage, *, parts: PartSink | None = None
    ) -> list[SentMessage]: ...

    async def edit(
        self,
        sent: SentMessage,
        text: str,
        *,
        buttons: Buttons = (),
        format: Literal["markdown", "plain"] = "markdown",
        parts: PartSink | None = None,
    ) -> list[SentMessage]: ...

    async def typing(self, chat: ChatRef) -> None: ...

    async def answer_action(
        self, action: InboundMessage, text: str, *, alert: bool = False
    ) -> None:
        """Acknowledge a button press, showing ``text`` to the presser (a toast)."""
        ...

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        """Download an attachment; ``ChannelError`` if it is larger than ``max_bytes``."""
        ...


class ChatIO(Protocol):
    """Messages a tool may send into the chat it serves (progress, a Cancel button)."""

    async def send(self, text: str, *, buttons: Buttons = ()) -> SentMessage | None: ...

    async def edit(self, sent: SentMessage, text: str, *, buttons: Buttons = ()) -> None: ...


class ManagedChannel(Channel, Protocol):
    """A channel that opens its connections on enter and closes them on exit."""

    async def __aenter__(self) -> ManagedChannel: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class WebhookSource(Protocol):
    """An adapter that receives through HTTP routes on the gateway."""

    def routes(self) -> list[tuple[str, str, WebhookHandler]]: ...


@runtime_checkable
class Redeliverable(Protocol):
    """An adapter that takes a dead letter again (``assistant inbox dead-letters --retry``)."""

    async def redeliver(self, payload: str) -> None:
        """Parse and submit ``payload`` (as stored) as if it had just arrived; raises what
        went wrong instead of dead-lettering it again."""
        ...


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """A condition someone should hear about: a host metric over its threshold, a failing
    check, the assistant itself in trouble. ``key`` names the condition ("monitor:web1:cpu",
    "self:channel:telegram") so firing it again while it holds is not a new alert."""

    key: str
    severity: Severity
    title: str  # one line, in the recipient's language where it can be
    detail: str  # what was seen
    host: str | None = None
    source: str = "monitor"  # monitor | check | self
    files: tuple[OutFile, ...] = ()  # e.g. the chart of the window that triggered it


class AlertSink(Protocol):
    """Where alerts go (the alerts feature: routes per severity, escalation, acknowledgement,
    silences). Both calls return quickly; delivery is the sink's work."""

    async def fire(self, alert: Alert) -> None:
        """The condition holds (calling again while it holds changes nothing)."""
        ...

    async def resolve(self, key: str, detail: str) -> None:
        """The condition no longer holds; a no-op for a key that is not firing."""
        ...


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


class ApprovalResult(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...  # approved | denied | expired | unreachable | withdrawn
    @property
    def decided_by(self) -> str | None: ...
    @property
    def approved(self) -> bool: ...


class Approver(Protocol):
    """Asks a second person to approve one exact request (implemented by
    ``security.approvals``, offered by the approvals feature with /approve and buttons)."""

    async def request(
        self,
        *,
        requester: Sender,
        channel: str,
        chat: ChatRef,
        hosts: tuple[str, ...],
        command: str,
        reason: str,
        totp: bool = False,
    ) -> ApprovalResult:
        """Waits for the decision; the calling task's end withdraws the request."""
        ...


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    exit_status: int
    output: str  # stdout and stderr, possibly cut


class CommandRunner(Protocol):
    """Runs a monitoring check's command on a configured SSH host (implemented with the SSH
    executor and the command policy). ``actor`` ("channel:user_id") is the check's creator:
    an unattended check may run only what the policy allows that person outright."""

    def hosts(self) -> list[str]: ...

    async def refusal(self, host: str, command: str, actor: str) -> str | None:
        """Why the check may not run this command (None: it may)."""
        ...

    async def run(
        self, host: str, command: str, *, timeout: float, actor: str
    ) -> CommandOutcome: ...


class Clock(Protocol):
    """Time, injected: everything that waits or compares times takes it, so tests move a fake
    clock instead of sleeping."""

    def time(self) -> float:
        """Seconds since the epoch (wall clock)."""
        ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` of this clock's time (at once when not positive)."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def now(clock: Clock, zone: tzinfo = UTC) -> datetime:
    """The clock's current time, aware, in ``zone``."""
    return datetime.fromtimestamp(clock.time(), zone)


async def within(clock: Clock, seconds: float, awaitable: Awaitable[object]) -> bool:
    """Wait for ``awaitable`` at most ``seconds`` of ``clock`` time; True if it finished.

    A future passed in is left running when the time is up (as with ``asyncio.shield``); a
    coroutine is cancelled then, and when the caller is cancelled."""
    inner = asyncio.ensure_future(awaitable)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait((inner, timer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if inner is not awaitable and not inner.done():
            inner.cancel()
    return inner.done() and not inner.cancelled()
