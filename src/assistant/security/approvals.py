"""Approvals: an "ask" decision becomes Approve/Deny buttons in the approvers' chats.

A request is bound to one requester, host list and exact command; what runs afterwards is that
command, nothing the model adds later. It expires (default ten minutes); a request left pending
by a restart is expired at the next start. Every step is audited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from assistant.core.errors import ChannelError
from assistant.core.messages import Button, ChatRef, Sender, SentMessage
from assistant.core.text import one_line
from assistant.store.approvals import ApprovalRecord, ApprovalStore
from assistant.store.audit import AuditLog

log = structlog.get_logger(__name__)

Buttons = tuple[tuple[Button, ...], ...]
SendFn = Callable[[ChatRef, str, Buttons], Awaitable[list[SentMessage]]]
EditFn = Callable[[SentMessage, str], Awaitable[None]]
ApproversFn = Callable[[], Awaitable[list[ChatRef]]]

PREFIX = "ap"


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    id: int
    status: str  # approved | denied | expired | unreachable
    decided_by: str | None = None

    @property
    def approved(self) -> bool:
        return self.status == "approved"


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def describe(record: ApprovalRecord) -> str:
    hosts = ", ".join(record.hosts)
    who = one_line(record.requester_name) or one_line(record.requester)
    return (
        f"{who} ({record.requester.replace(':', ' ')}) wants to run on {hosts}:\n\n"
        f"{record.command}\n\nWhy it needs approval: {record.reason}"
    )


class ApprovalService:
    def __init__(
        self,
        store: ApprovalStore,
        audit: AuditLog,
        *,
        approvers: ApproversFn,
        send: SendFn,
        edit: EditFn,
        timeout: Callable[[], float],
    ) -> None:
        self._store = store
        self._audit = audit
        self._approvers = approvers
        self._send = send
        self._edit = edit
        self._timeout = timeout
        self._waiting: dict[int, asyncio.Future[ApprovalOutcome]] = {}

    async def request(
        self,
        *,
        requester: Sender,
        channel: str,
        chat: ChatRef,
        hosts: tuple[str, ...],
        command: str,
        reason: str,
    ) -> ApprovalOutcome:
        """Ask the approvers and wait for a decision (or the expiry)."""
        ttl = self._timeout()
        actor = f"{channel}:{requester.user_id}"
        record = await self._store.create(
            requester=actor,
            requester_name=requester.name,
            chat=chat,
            hosts=hosts,
            command=command,
            reason=reason,
            ttl=ttl,
        )
        await self._audit.append(
            "approval.requested",
            actor,
            id=record.id,
            hosts=list(hosts),
            command=command,
            reason=reason,
        )
        future: asyncio.Future[ApprovalOutcome] = asyncio.get_running_loop().create_future()
        self._waiting[record.id] = future
        try:
            text = (
                f"🔐 Approval needed (#{record.id})\n{describe(record)}\n\n"
                f"Expires in {_minutes(ttl)}. Buttons, or /approve {record.id} · /deny {record.id}"
            )
            buttons = (
                (
                    Button("Approve", f"{PREFIX}:{record.id}:y", "primary"),
                    Button("Deny", f"{PREFIX}:{record.id}:n", "danger"),
                ),
            )
            delivered = 0
            for target in await self._approvers():
                try:
                    for sent in await self._send(target, text, buttons):
                        await self._store.add_message(
                            record.id, sent.chat.channel, sent.chat.chat_id, sent.message_id
                        )
                        delivered += 1
                except ChannelError as exc:
                    log.warning("approval.notify_failed", chat=target.key, error=str(exc))
            if not delivered:
                await self._finish(
                    record.id, "unreachable", "nobody", "no approver could be reached"
                )
                return ApprovalOutcome(record.id, "unreachable")
            log.info("approval.requested", id=record.id, approvers=delivered)
            try:
                return await asyncio.wait_for(asyncio.shield(future), ttl)
            except TimeoutError:
                await self._finish(
                    record.id, "expired", "timeout", f"expired after {_minutes(ttl)}"
                )
                return ApprovalOutcome(record.id, "expired")
        finally:
            self._waiting.pop(record.id, None)

    async def decide(self, approval_id: int, approve: bool, *, by: str, by_name: str) -> str:
        """An approver pressed a button (or typed /approve, /deny); returns a short answer."""
        status = "approved" if approve else "denied"
        record = await self._finish(
            approval_id, status, by, f"{status} by {one_line(by_name) or by}"
        )
        if record is None:
            current = await self._store.get(approval_id)
            if current is None:
                return f"There is no request #{approval_id}."
            return f"Request #{approval_id} was already {current.status}."
        future = self._waiting.get(approval_id)
        if future is not None and not future.done():
            future.set_result(ApprovalOutcome(approval_id, status, by))
        return "Approved." if approve else "Denied."

    async def expire_leftovers(self) -> int:
        """Expire requests a previous run left pending (their turns are gone)."""
        count = 0
        for record in await self._store.pending():
            if await self._finish(
                record.id, "expired", "restart", "expired: the assistant restarted"
            ):
                count += 1
        return count

    async def _finish(
        self, approval_id: int, status: str, by: str, note: str
    ) -> ApprovalRecord | None:
        record = await self._store.decide(approval_id, status, by)
        if record is None:
            return None
        await self._audit.append(
            "approval.decided",
            by,
            id=approval_id,
            status=status,
            waited=round(time.time() - record.created_at, 1),
        )
        mark = {"approved": "✅", "denied": "❌"}.get(status, "⌛")
        text = f"{mark} #{record.id} {note}\n{describe(record)}"
        for channel, chat_id, message_id in record.messages:
            try:
                await self._edit(SentMessage(ChatRef(channel, chat_id), message_id), text)
            except ChannelError as exc:
                log.warning("approval.edit_failed", id=approval_id, error=str(exc))
        log.info("approval.decided", id=approval_id, status=status, by=by)
        return record
