"""Asking a second person before a tool call runs: the path the web and MCP tools share with
commands (``tools.exec``), through whatever ``Approver`` the assistant has."""

from __future__ import annotations

import asyncio
import contextlib

from assistant.core.i18n import N_, tr
from assistant.core.ports import Approver
from assistant.core.tools import ToolContext
from assistant.store.audit import AuditLog

# characters of a call's arguments an approval message shows; a longer call is refused, since
# an approver approves exactly what they read, never a part of it cut out ("…")
MAX_SHOWN = 3000

_NOTES = {
    "approved": N_("✅ Approved by {by} (#{id})."),
    "denied": N_("❌ Denied by {by} (#{id})."),
    "withdrawn": N_("↩️ Request #{id} was withdrawn."),
    "expired": N_("⌛ Request #{id} expired without a decision."),
}


async def ask(
    approver: Approver | None,
    audit: AuditLog,
    ctx: ToolContext,
    *,
    target: str,
    what: str,
    reason: str,
) -> str | None:
    """None when a second person approved ``what`` (on ``target``, e.g. "web" or an MCP
    server); otherwise why it was not done, for the model. ``what`` is shown whole, so one
    longer than MAX_SHOWN is refused without asking."""
    if len(what) > MAX_SHOWN:
        return (
            f"This needs a second person's approval, and what they would approve is "
            f"{len(what)} characters, too long to show in full (at most {MAX_SHOWN}). Nothing "
            "was done; make it smaller (several calls, or less content in one)."
        )
    if approver is None:
        return (
            f"{what} needs a second person's approval ({reason}), and this assistant has no "
            "approvals. Nothing was done."
        )
    await audit.append("approval.ask", ctx.actor, target=target, command=what, reason=reason)
    if ctx.io is not None:
        await ctx.io.send(
            tr("⏳ Asking for approval to run on {hosts}:\n{command}").format(
                hosts=target, command=what
            )
        )
    hold = ctx.hold() if ctx.hold is not None else contextlib.nullcontext()
    async with hold:
        try:
            outcome = await approver.request(
                requester=ctx.sender,
                channel=ctx.chat.channel,
                chat=ctx.chat,
                hosts=(target,),
                command=what,
                reason=reason,
            )
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            return f"The request to do {what} was withdrawn. Nothing was done."
    if ctx.io is not None:
        note = _NOTES.get(outcome.status, N_("Request #{id} could not reach another approver."))
        await ctx.io.send(tr(note).format(by=outcome.decided_by, id=outcome.id))
    if outcome.approved:
        return None
    return f"The request (#{outcome.id}) to do {what} was {outcome.status}. Nothing was done."


async def ask_for_call(
    approver: Approver | None,
    audit: AuditLog,
    ctx: ToolContext,
    *,
    tool: str,
    arguments: str,
    target: str,
    reason: str,
) -> str | None:
    """``ask`` for one call of a tool the config classes as ``ask`` (an MCP or plugin tool):
    None once approved, the call then recorded as a side effect so a crash never repeats it.
    Arguments too long to show an approver in full are refused without asking."""
    refusal = await ask(
        approver, audit, ctx, target=target, what=f"{tool} {arguments}", reason=reason
    )
    if refusal is None:
        await ctx.mark_side_effect(tool)
    return refusal
