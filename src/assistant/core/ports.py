"""Protocols for the seams between layers. Implementations live elsewhere."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from pathlib import Path
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


class HostProbe(Protocol):
    """Runs the built-in host probe (``assistant.ssh.probe``: one fixed command, no arguments
    but the host's configured systemd units) on an inventory host over its pooled SSH
    connection; offered by the SSH feature, used by the monitor. Not subject to the command
    policy or approval (nobody chooses the command); audited as ``monitor.probe``."""

    def hosts(self) -> list[str]:
        """The inventory hosts with ``monitor = true``."""
        ...

    async def probe(self, host: str, *, timeout: float) -> str:
        """The probe's output; ``ToolError`` when the host cannot be reached or the probe
        did not finish within ``timeout`` seconds."""
        ...


class HostAction(Protocol):
    """Runs a monitor rule's ``action`` (a command from the config) on a host when its alert
    fires, under the command policy as if an owner asked: allowed outright → it runs; ask →
    an approval request goes to the approvers first; denied → nothing runs. The owner's chat
    is told the outcome. Offered by the SSH feature."""

    async def run_action(self, host: str, command: str, *, reason: str) -> str:
        """Waits for the approval and the run; returns the report the owner was sent."""
        ...


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


@dataclass(frozen=True, slots=True)
class JobInfo:
    """One scheduled job as a console lists it (the scheduler's own types stay inside it)."""

    id: str
    chat: str  # "channel:chat_id" where it reports
    owner: str  # "channel:user_id" of who created it
    owner_name: str
    kind: str  # reminder | agent | check
    what: str  # the task, described
    schedule: str  # when it runs, described
    next_run: float | None  # epoch seconds; None: no further runs
    last_run_at: float | None
    runs: int
    last_result: str  # a check's last state ("ok", "alert 93.0"); "" for other jobs
    host: str = ""  # the SSH host a command check runs on
    paused: bool = False


class JobBoard(Protocol):
    """The scheduler's jobs for the web console (implemented by the scheduler feature)."""

    async def list_jobs(self, owner: str | None) -> list[JobInfo]:
        """Active and paused jobs; only those ``owner`` ("channel:user_id") created, or all
        for None."""
        ...

    async def cancel_job(self, job_id: str, *, actor: str, admin: bool) -> str:
        """Cancel a job ``actor`` created (any job when ``admin``); what happened, one line."""
        ...

    async def run_job_now(self, job_id: str, *, actor: str, admin: bool) -> str:
        """Run a job once now, its schedule unchanged; what happened, one line."""
        ...

    async def pause_job(self, job_id: str, *, actor: str, admin: bool, paused: bool) -> str:
        """Pause a job (it does not fire) or resume it; what happened, one line."""
        ...


class PairingDesk(Protocol):
    """Approving a pairing request as ``/pair CODE ROLE`` does: grant, welcome, audit
    (implemented by the pairing feature)."""

    async def approve_pairing(
        self, channel: str, code: str, role: str, *, by: str, by_role: str
    ) -> tuple[bool, str]:
        """(approved, what to tell the approver)."""
        ...


class Reloader(Protocol):
    """The running daemon: its config file, and a reload of it as SIGHUP asks."""

    @property
    def config_path(self) -> Path: ...

    def request_reload(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """One long-term memory as the web console lists it."""

    id: str
    space: str  # "user:telegram:42", "group:feishu:oc_1", "shared"
    text: str
    owner: str  # "channel:user_id" of who stored it
    created: float
    source: str  # remember | summary | import
    score: float | None = None  # similarity to the search, when searched


class MemoryDesk(Protocol):
    """Browsing and forgetting memories (implemented by the memory feature)."""

    def own_space(self, channel: str, user_id: str) -> str:
        """Where this person's private-chat memories are."""
        ...

    async def memory_spaces(self) -> list[str]: ...

    async def list_memories(
        self, spaces: list[str] | None, query: str, limit: int
    ) -> list[MemoryItem]:
        """Newest first, or best matches of ``query`` first; ``spaces`` None: all."""
        ...

    async def forget_memory(self, spaces: list[str] | None, memory_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class HostInfo:
    """One configured SSH host as the web console lists it."""

    name: str
    address: str
    port: int
    user: str
    tags: tuple[str, ...]
    jump: str | None
    require_totp: bool
    pins: tuple[str, ...]  # the pinned host keys: "ssh-ed25519 SHA256:…"


class HostDesk(Protocol):
    """The SSH hosts for the web console (implemented by the SSH feature)."""

    def host_list(self) -> list[HostInfo]: ...

    async def probe(self, host: str) -> str | None:
        """Connect (or reuse the pooled connection); None when it works, else why not."""
        ...
