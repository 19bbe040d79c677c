"""Server commands typed by a person — no model, no tokens, no prompt injection:
/run HOST COMMAND, /hosts, /approve ID, /deny ID; the buttons (Approve/Deny on approval
requests, Cancel on a running command); and what /status HOST and /cancel reach here."""

from __future__ import annotations

from assistant.core.commands import Action, ActionCall, ActionResult, Command, CommandCall
from assistant.core.i18n import N_, tr
from assistant.core.roles import Permission
from assistant.security.approvals import PREFIX as APPROVAL_PREFIX
from assistant.security.approvals import ApprovalService
from assistant.security.policy import Policy
from assistant.tools.exec import CANCEL_PREFIX, STATUS_COMMAND, ExecRequest, ExecService
from assistant.tools.ssh import host_lines


def _actor(call: CommandCall | ActionCall) -> str:
    return f"{call.message.chat.channel}:{call.message.sender.user_id}"


class OpsCommands:
    def __init__(self, *, service: ExecService, approvals: ApprovalService, policy: Policy) -> None:
        self._service = service
        self._approvals = approvals
        self._policy = policy

    def actions(self) -> list[Action]:
        return [
            Action(APPROVAL_PREFIX, Permission.APPROVE, self.decide_button),
            Action(CANCEL_PREFIX, Permission.EXEC_READONLY, self.cancel_button),
        ]

    def commands(self) -> list[Command]:
        return [
            Command(
                "run",
                N_("run a command on a server"),
                Permission.EXEC_READONLY,
                self.run,
                usage="/run HOST COMMAND",
            ),
            Command("hosts", N_("the servers I can reach"), Permission.EXEC_READONLY, self.hosts),
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

    async def run(self, call: CommandCall) -> str:
        host, _, command = call.args.partition(" ")
        if not host or not command.strip():
            return tr(
                "Usage: /run HOST COMMAND (for example: /run web1 df -h). /hosts lists hosts."
            )
        await call.mark_side_effect(f"/run on {host}")
        report = await self._service.execute(
            ExecRequest(
                hosts=host,
                command=command.strip(),
                sender=call.message.sender,
                chat=call.message.chat,
                permissions=call.permissions,
                direct=True,
                role=call.role,
                io=call.io,
            )
        )
        return report.text

    async def hosts(self, call: CommandCall) -> str:
        return host_lines(self._service)

    async def host_status(self, call: CommandCall) -> str:
        if Permission.EXEC_READONLY not in call.permissions:
            return tr("Your role may not look at servers.")
        report = await self._service.execute(
            ExecRequest(
                hosts=call.args.strip(),
                command=STATUS_COMMAND,
                sender=call.message.sender,
                chat=call.message.chat,
                permissions=call.permissions,
                io=call.io,
                trusted=True,
            )
        )
        return report.text

    async def cancel(self, call: CommandCall) -> str | None:
        """``/cancel``: the commands running in this chat, and the approvals they wait for."""
        if Permission.EXEC_READONLY not in call.permissions:
            return None
        if self._service.cancel_chat(call.message.chat.key, _actor(call)):
            return tr("Cancelling the running command.")
        return None

    async def approve(self, call: CommandCall) -> str:
        return await self._decide_typed(call, approve=True)

    async def deny(self, call: CommandCall) -> str:
        return await self._decide_typed(call, approve=False)

    async def _decide_typed(self, call: CommandCall, *, approve: bool) -> str:
        number, _, code = call.args.strip().partition(" ")
        number = number.lstrip("#")
        if not number.isdigit():
            return tr("Usage: /{command} ID (the number in the request).").format(
                command="approve" if approve else "deny"
            )
        return await self._approvals.decide(
            int(number),
            approve,
            by=_actor(call),
            by_name=call.message.sender.name,
            code=code.strip() or None,
        )

    async def decide_button(self, call: ActionCall) -> ActionResult:
        number, _, answer = call.argument.partition(":")
        if not number.isdigit() or answer not in ("y", "n"):
            return ActionResult(toast=tr("This button is not valid."))
        toast = await self._approvals.decide(
            int(number), answer == "y", by=_actor(call), by_name=call.message.sender.name
        )
        return ActionResult(toast=toast)

    async def cancel_button(self, call: ActionCall) -> ActionResult:
        may_cancel_others = self._policy.allows(call.role, Permission.APPROVE)
        toast = self._service.cancel_run(
            call.argument, _actor(call), may_cancel_others=may_cancel_others
        )
        return ActionResult(toast=toast)
