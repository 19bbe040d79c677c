"""Server commands typed by a person — no model, no tokens, no prompt injection:
/run HOST COMMAND, /hosts; the Cancel button of a running command; and what /status HOST and
/cancel reach here. (/approve, /deny and the Approve/Deny buttons are the approvals
feature's.)"""

from __future__ import annotations

from assistant.core.commands import Action, ActionCall, ActionResult, Command, CommandCall
from assistant.core.i18n import N_, tr
from assistant.core.roles import Permission
from assistant.security.policy import Policy
from assistant.tools.exec import CANCEL_PREFIX, STATUS_COMMAND, ExecRequest, ExecService
from assistant.tools.ssh import host_lines


def _actor(call: CommandCall | ActionCall) -> str:
    return f"{call.message.chat.channel}:{call.message.sender.user_id}"


class OpsCommands:
    def __init__(self, *, service: ExecService, policy: Policy) -> None:
        self._service = service
        self._policy = policy

    def actions(self) -> list[Action]:
        return [Action(CANCEL_PREFIX, Permission.EXEC_READONLY, self.cancel_button)]

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

    async def cancel_button(self, call: ActionCall) -> ActionResult:
        may_cancel_others = self._policy.allows(call.role, Permission.APPROVE)
        toast = self._service.cancel_run(
            call.argument, _actor(call), may_cancel_others=may_cancel_others
        )
        return ActionResult(toast=toast)
