"""What approvers type and press: /approve ID [CODE], /deny ID and the Approve/Deny buttons
of a request's card, whatever asked (an SSH command, an HTTP write, an MCP or plugin tool)."""

from __future__ import annotations

from assistant.core.commands import Action, ActionCall, ActionResult, Command, CommandCall
from assistant.core.i18n import N_, ngettext, tr
from assistant.core.roles import Permission
from assistant.core.text import typed_id
from assistant.security.approvals import PREFIX, ApprovalService


def _actor(call: CommandCall | ActionCall) -> str:
    return f"{call.message.chat.channel}:{call.message.sender.user_id}"


class ApprovalCommands:
    def __init__(self, approvals: ApprovalService) -> None:
        self._approvals = approvals

    def actions(self) -> list[Action]:
        return [Action(PREFIX, Permission.APPROVE, self.decide_button)]

    def commands(self) -> list[Command]:
        return [
            Command(
                "approve",
                N_("approve a request"),
                Permission.APPROVE,
                self.approve,
                usage="/approve ID [CODE]",
                immediate=True,
            ),
            Command(
                "deny",
                N_("deny a request"),
                Permission.APPROVE,
                self.deny,
                usage="/deny ID",
                immediate=True,
            ),
        ]

    async def approve(self, call: CommandCall) -> str:
        return await self._decide_typed(call, approve=True)

    async def deny(self, call: CommandCall) -> str:
        return await self._decide_typed(call, approve=False)

    async def _decide_typed(self, call: CommandCall, *, approve: bool) -> str:
        number, _, code = call.args.strip().partition(" ")
        approval_id = typed_id(number)
        if approval_id is None:
            return tr("Usage: /{command} ID (the number in the request).").format(
                command="approve" if approve else "deny"
            )
        return await self._approvals.decide(
            approval_id,
            approve,
            by=_actor(call),
            by_name=call.message.sender.name,
            code=code.strip() or None,
        )

    async def cancel(self, call: CommandCall) -> str | None:
        """``/cancel`` (the ``Canceller`` port): the requests this chat's turns wait for."""
        withdrawn = await self._approvals.withdraw_chat(
            call.message.chat.key, by=_actor(call), by_name=call.message.sender.name
        )
        if not withdrawn:
            return None
        return ngettext(
            "Withdrew approval request {ids}.", "Withdrew approval requests {ids}.", len(withdrawn)
        ).format(ids=", ".join(f"#{n}" for n in withdrawn))

    async def decide_button(self, call: ActionCall) -> ActionResult:
        number, _, answer = call.argument.partition(":")
        approval_id = typed_id(number)
        if approval_id is None or answer not in ("y", "n"):
            return ActionResult(toast=tr("This button is not valid."))
        toast = await self._approvals.decide(
            approval_id, answer == "y", by=_actor(call), by_name=call.message.sender.name
        )
        return ActionResult(toast=toast)
