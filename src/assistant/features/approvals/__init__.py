"""Approvals: a second person approves one exact request before it runs.

Every assistant has them, with or without servers: an SSH command the policy asks about, an
HTTP write no ``[[web.allow]]`` rule names, an MCP or plugin tool classed ``ask``. This
feature builds the one ``ApprovalService`` (cards with Approve/Deny to the approvers, TOTP
where the request needs it, expiry after ``[approvals] timeout``, audit) and offers it as the
``APPROVER`` port; it adds /approve, /deny and the buttons, lets /cancel withdraw what a
chat's turns wait for, and at start expires the requests a previous run left pending (the turns
that waited for them are gone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from assistant.feature import APPROVER, CANCELLER, Feature, Reloaded, changed_keys

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.kernel import Context

NAME = "approvals"

log = structlog.get_logger(__name__)


def enabled(config: Config) -> bool:
    return True  # other features' "ask" must reach a second person, never be refused for want


def warn_deprecated(config: Config) -> None:
    """``[ssh] approval_timeout`` is the old name of ``[approvals] timeout``."""
    if config.ssh.approval_timeout is not None:
        log.warning(
            "config.deprecated",
            key="ssh.approval_timeout",
            use="approvals.timeout",
            seconds=config.approvals.timeout,  # in force: [approvals] timeout wins if both are set
        )


async def setup(ctx: Context) -> Feature:
    from assistant.core.messages import ChatRef, SentMessage
    from assistant.core.ports import Buttons
    from assistant.features.approvals.commands import ApprovalCommands
    from assistant.security.approvals import ApprovalService
    from assistant.security.second_factor import SecondFactor
    from assistant.store.approvals import ApprovalStore
    from assistant.store.totp import TotpStore

    live, router = ctx.live, ctx.router

    async def approvers() -> list[ChatRef]:
        return await ctx.access.approver_chats(set(router.channels))

    async def send(chat: ChatRef, text: str, buttons: Buttons) -> list[SentMessage]:
        return await router.notify(chat, text, buttons=buttons, plain=True)

    async def edit(sent: SentMessage, text: str) -> None:
        await router.edit(sent, text, plain=True)

    approvals = ApprovalService(
        ApprovalStore(ctx.db, ctx.clock),
        ctx.audit,
        approvers=approvers,
        send=send,
        edit=edit,
        timeout=lambda: live.current.approvals.timeout,
        second_factor=SecondFactor(TotpStore(ctx.db)),
        person=lambda account: live.current.access.person(account),
        clock=ctx.clock,
        locale_of=ctx.locales.of_person,  # each approver reads the card in their language
    )
    ctx.ports.provide(APPROVER, approvals)
    people = ApprovalCommands(approvals)
    ctx.ports.provide(CANCELLER, people)  # /cancel withdraws the requests a chat waits for
    warn_deprecated(ctx.config)

    async def start() -> None:
        await approvals.expire_leftovers()  # their turns ended with the previous run

    async def reload(old: Config, new: Config) -> Reloaded:
        applied = changed_keys(old.approvals, new.approvals, "approvals")
        if old.ssh.approval_timeout != new.ssh.approval_timeout:
            applied.append("ssh.approval_timeout")
            warn_deprecated(new)
        return Reloaded(tuple(applied))  # the timeout is read per request

    return Feature(
        NAME,
        commands=people.commands(),
        actions=people.actions(),
        start=start,
        reload=reload,
        parts={"approvals": approvals},
    )
