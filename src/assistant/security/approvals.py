"""Approvals: an "ask" decision becomes Approve/Deny buttons in the approvers' chats.

A request is bound to one requester, host list and exact command; what runs afterwards is that
command, nothing the model adds later. It goes to everyone who may approve *except the
requester*, and the requester's own press or ``/approve`` is refused: a second person decides.
Where the hosts require it, approving also needs a current TOTP code (``/approve ID CODE``).
A request lives only as long as the turn that waits for it: when that turn ends for any
reason the request is withdrawn and its buttons removed; it expires after
``[approvals] timeout``; a request left pending by a restart is expired at the next start.
Every step is audited: requested, approved / denied / withdrawn / expired, by whom.

Each approver gets the card, and later its edits, in their own language (``locale_of``); what
``decide`` answers is in the language of whoever pressed or typed (the router's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from assistant.core import i18n
from assistant.core.errors import ChannelError
from assistant.core.i18n import N_, ngettext, tr
from assistant.core.messages import Button, ChatRef, Sender, SentMessage
from assistant.core.ports import Clock, SystemClock, within
from assistant.core.text import known_id, one_line
from assistant.security.second_factor import Check, SecondFactor
from assistant.store.approvals import ApprovalRecord, ApprovalStore
from assistant.store.audit import AuditLog

log = structlog.get_logger(__name__)

Buttons = tuple[tuple[Button, ...], ...]
SendFn = Callable[[ChatRef, str, Buttons], Awaitable[list[SentMessage]]]
EditFn = Callable[[SentMessage, str], Awaitable[None]]
ApproversFn = Callable[[], Awaitable[list[ChatRef]]]
LocaleOf = Callable[[str, str], Awaitable[str]]  # (channel, user_id) → that person's locale

PREFIX = "ap"
MAX_CODE_FAILURES = 5  # wrong TOTP codes per approver and request before their codes are refused


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    id: int
    status: str  # approved | denied | expired | unreachable | withdrawn
    decided_by: str | None = None

    @property
    def approved(self) -> bool:
        return self.status == "approved"


@dataclass(slots=True)
class _Waiting:
    future: asyncio.Future[ApprovalOutcome]
    totp: bool
    failures: dict[str, int]
    chat: str  # the key of the chat whose turn waits (its /cancel withdraws the request)


# what became of a request, as the card's edit says it ({name}: who decided; {minutes})
NOTES = {
    "approved": N_("approved by {name}"),
    "denied": N_("denied by {name}"),
    "withdrawn": N_("withdrawn by {name}"),
    "timeout": N_("expired after {minutes}"),
    "turn-ended": N_("withdrawn: the request's turn ended"),
    "restart": N_("withdrawn: nothing waits"),
    "restarted": N_("expired: the assistant restarted"),
    "unreachable": N_("no other approver could be reached"),
}
STATUSES = {
    "approved": N_("Request #{id} was already approved."),
    "denied": N_("Request #{id} was already denied."),
    "expired": N_("Request #{id} was already expired."),
    "withdrawn": N_("Request #{id} was already withdrawn."),
    "unreachable": N_("Request #{id} could not reach an approver."),
}
GONE = N_("There is no request #{id}.")


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return ngettext("{n} minute", "{n} minutes", minutes).format(n=minutes)


def describe(record: ApprovalRecord) -> str:
    """The request, for an approver (in the current language)."""
    who = one_line(record.requester_name) or one_line(record.requester)
    return tr(
        "{who} ({account}) wants to run on {hosts}:\n\n{command}\n\nWhy it needs approval: {reason}"
    ).format(
        who=who,
        account=record.requester.replace(":", " "),
        hosts=", ".join(record.hosts),
        command=record.command,
        reason=record.reason,
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
        second_factor: SecondFactor | None = None,
        person: Callable[[str], str] = str,
        clock: Clock | None = None,
        locale_of: LocaleOf | None = None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._approvers = approvers
        self._send = send
        self._edit = edit
        self._timeout = timeout
        self._second_factor = second_factor
        self._person = person  # "channel:user_id" → one name for all of a person's accounts
        self._waiting: dict[int, _Waiting] = {}
        self._clock = clock or SystemClock()
        self._locale_of = locale_of

    async def _locale(self, channel: str, user_id: str) -> str | None:
        """The language of a private chat's person (its id is theirs); None: the default."""
        return await self._locale_of(channel, user_id) if self._locale_of is not None else None

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
    ) -> ApprovalOutcome:
        """Ask the approvers other than the requester and wait for a decision, the expiry,
        or the end of the calling task (then the request is withdrawn)."""
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
            totp=totp,
        )
        future: asyncio.Future[ApprovalOutcome] = asyncio.get_running_loop().create_future()
        self._waiting[record.id] = _Waiting(future, totp, {}, chat.key)
        try:
            delivered = await self._notify(record, ttl, totp)
            if not delivered:
                await self._finish(record.id, "unreachable", "nobody", "unreachable")
                return ApprovalOutcome(record.id, "unreachable")
            log.info("approval.requested", id=record.id, approvers=delivered, totp=totp)
            if await within(self._clock, ttl, future):
                return future.result()
            await self._finish(record.id, "expired", "timeout", "timeout", ttl=ttl)
            return ApprovalOutcome(record.id, "expired")
        except asyncio.CancelledError:
            # The turn that asked is gone (shutdown, /cancel, its deadline): a later press
            # must not say "Approved" for something that will never run.
            await asyncio.shield(self._finish(record.id, "withdrawn", "turn-ended", "turn-ended"))
            raise
        finally:
            self._waiting.pop(record.id, None)

    async def _notify(self, record: ApprovalRecord, ttl: float, totp: bool) -> int:
        delivered = 0
        for target in await self._approvers():
            if self._same(f"{target.channel}:{target.chat_id}", record.requester):
                continue  # nobody approves their own request, from any of their accounts
            with i18n.using(await self._locale(target.channel, target.chat_id)):
                text, buttons = _card(record, ttl, totp)
            try:
                for sent in await self._send(target, text, buttons):
                    await self._store.add_message(
                        record.id, sent.chat.channel, sent.chat.chat_id, sent.message_id
                    )
                    delivered += 1
            except ChannelError as exc:
                log.warning("approval.notify_failed", chat=target.key, error=str(exc))
        return delivered

    async def decide(
        self, approval_id: int, approve: bool, *, by: str, by_name: str, code: str | None = None
    ) -> str:
        """An approver pressed a button (or typed /approve, /deny); returns a short answer."""
        current = await self._store.get(approval_id) if known_id(approval_id) else None
        if current is None:
            return tr(GONE).format(id=approval_id)
        if current.status != "pending":
            return tr(STATUSES.get(current.status, GONE)).format(id=approval_id)
        if approve and self._same(by, current.requester):
            await self._audit.append("approval.self_refused", by, id=approval_id)
            return tr("You cannot approve your own request: another approver has to.")
        waiting = self._waiting.get(approval_id)
        if waiting is None:
            # pending, but no turn waits for it (the process restarted): nothing would run
            await self._finish(approval_id, "withdrawn", "restart", "restart")
            return tr("Request #{id} is no longer waiting; nothing will run.").format(
                id=approval_id
            )
        if approve and waiting.totp:
            refusal = await self._check_code(approval_id, waiting, by, code)
            if refusal is not None:
                return refusal
        status = "approved" if approve else "denied"
        if not approve and self._same(by, current.requester):
            status = "withdrawn"
        record = await self._finish(approval_id, status, by, status, name=one_line(by_name) or by)
        if record is None:
            latest = await self._store.get(approval_id)
            return tr(STATUSES.get(latest.status, GONE) if latest else GONE).format(id=approval_id)
        if not waiting.future.done():
            waiting.future.set_result(ApprovalOutcome(approval_id, status, by))
        return {"approved": tr("Approved."), "denied": tr("Denied.")}.get(status, tr("Withdrawn."))

    async def withdraw_chat(self, chat_key: str, *, by: str, by_name: str) -> list[int]:
        """``/cancel`` in a chat: withdraw the requests its turns wait for, whatever asked (an
        SSH command, an HTTP write, an MCP or plugin tool); the waiting turn reads "withdrawn"
        and nothing runs. The ids withdrawn."""
        withdrawn = []
        for approval_id, waiting in list(self._waiting.items()):
            if waiting.chat != chat_key or waiting.future.done():
                continue
            name = one_line(by_name) or by
            if await self._finish(approval_id, "withdrawn", by, "withdrawn", name=name) is None:
                continue  # decided meanwhile
            if not waiting.future.done():
                waiting.future.set_result(ApprovalOutcome(approval_id, "withdrawn", by))
            withdrawn.append(approval_id)
        return withdrawn

    def _same(self, account: str, other: str) -> bool:
        return self._person(account) == self._person(other)

    async def _check_code(
        self, approval_id: int, waiting: _Waiting, by: str, code: str | None
    ) -> str | None:
        if self._second_factor is None:
            return tr("This request needs a one-time code, but no second factor is set up here.")
        if waiting.failures.get(by, 0) >= MAX_CODE_FAILURES:
            return tr("Too many wrong codes for this request; another approver has to decide.")
        if not code:
            return tr(
                "Request #{id} needs a one-time code from your authenticator app: "
                "/approve {id} CODE"
            ).format(id=approval_id)
        result = await self._second_factor.verify(by, code)
        if result is Check.OK:
            return None
        await self._audit.append("approval.code_refused", by, id=approval_id, why=result.value)
        if result is Check.NOT_ENROLLED:
            return tr(
                "You have no authenticator set up; the owner can add one with "
                "`assistant users totp add {account}`."
            ).format(account=by.replace(":", " ", 1))
        waiting.failures[by] = waiting.failures.get(by, 0) + 1
        if result is Check.REUSED:
            return tr("That code was used already; wait for the next one.")
        return tr("That code is not valid.")

    async def expire_leftovers(self) -> int:
        """Expire requests a previous run left pending (their turns are gone)."""
        count = 0
        for record in await self._store.pending():
            if await self._finish(record.id, "expired", "restart", "restarted"):
                count += 1
        return count

    async def _finish(
        self, approval_id: int, status: str, by: str, note: str, *, name: str = "", ttl: float = 0
    ) -> ApprovalRecord | None:
        """Record the decision and edit the cards (``note``: a key of ``NOTES``)."""
        record = await self._store.decide(approval_id, status, by)
        if record is None:
            return None
        await self._audit.append(
            "approval.decided",
            by,
            id=approval_id,
            status=status,
            waited=round(self._clock.time() - record.created_at, 1),
        )
        mark = {"approved": "✅", "denied": "❌", "withdrawn": "↩️"}.get(status, "⌛")
        for channel, chat_id, message_id in record.messages:
            with i18n.using(await self._locale(channel, chat_id)):
                said = tr(NOTES[note]).format(name=name, minutes=_minutes(ttl))
                text = f"{mark} #{record.id} {said}\n{describe(record)}"
            try:  # the new text carries no buttons: they are gone from the chat
                await self._edit(SentMessage(ChatRef(channel, chat_id), message_id), text)
            except ChannelError as exc:
                log.warning("approval.edit_failed", id=approval_id, error=str(exc))
        log.info("approval.decided", id=approval_id, status=status, by=by)
        return record


def _card(record: ApprovalRecord, ttl: float, totp: bool) -> tuple[str, Buttons]:
    """The request with its buttons, for one approver (in the current language)."""
    if totp:
        how = tr("Approve with a one-time code: /approve {id} CODE · or /deny {id}")
    else:
        how = tr("Buttons, or /approve {id} · /deny {id}")
    text = tr("🔐 Approval needed (#{id})\n{request}\n\nExpires in {minutes}. {how}").format(
        id=record.id,
        request=describe(record),
        minutes=_minutes(ttl),
        how=how.format(id=record.id),
    )
    buttons = (
        (
            Button(tr("Approve"), f"{PREFIX}:{record.id}:y", "primary"),
            Button(tr("Deny"), f"{PREFIX}:{record.id}:n", "danger"),
        ),
    )
    return text, buttons
