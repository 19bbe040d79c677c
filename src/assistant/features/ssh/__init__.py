"""SSH: commands on the owner's servers under the command policy, with approvals and audit.

Adds the model's tools (run_command, host_status), the people's commands (/run,
/hosts, /approve, /deny) and buttons (Approve/Deny, Cancel), and offers what /status HOST and
/cancel reach, what monitoring checks run commands with, and the monitor's host probe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.core.i18n import N_
from assistant.core.roles import Permission
from assistant.feature import (
    APPROVER,
    CANCELLER,
    COMMAND_RUNNER,
    HOST_ACTION,
    HOST_DESK,
    HOST_PROBE,
    HOST_STATUS,
    Feature,
    Reloaded,
    Unconfigured,
    changed_keys,
)

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.kernel import Context

NAME = "ssh"

UNCONFIGURED = Unconfigured(
    commands=(
        ("run", Permission.EXEC_READONLY),
        ("hosts", Permission.EXEC_READONLY),
        ("approve", Permission.APPROVE),
        ("deny", Permission.APPROVE),
    ),
    hint=N_(
        "no servers yet: add a [[ssh.hosts]] entry (name, address, user) to the config and "
        "restart the assistant (docs/ssh.md)",
    ),
)


def enabled(config: Config) -> bool:
    return config.ssh.enabled and bool(config.ssh.hosts)


async def setup(ctx: Context) -> Feature:
    from assistant.core.messages import ChatRef, SentMessage
    from assistant.core.ports import Buttons
    from assistant.features.ssh.commands import OpsCommands
    from assistant.features.ssh.desk import HostDesk
    from assistant.features.ssh.probe import Prober, RuleActions
    from assistant.features.ssh.runner import CheckRunner
    from assistant.security.approvals import ApprovalService
    from assistant.security.isolated import IsolatedPolicy
    from assistant.security.second_factor import SecondFactor
    from assistant.ssh.executor import SSHExecutor
    from assistant.store.approvals import ApprovalStore
    from assistant.store.totp import TotpStore
    from assistant.tools.exec import ExecService
    from assistant.tools.ssh import HostStatusTool, RunCommandTool

    live, router = ctx.live, ctx.router
    executor = await ctx.stack.enter_async_context(
        SSHExecutor(live.current.ssh, known_hosts=live.current.known_hosts)
    )
    judge = IsolatedPolicy(live.current.ssh)
    ctx.stack.callback(judge.close)

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
        timeout=lambda: live.current.ssh.approval_timeout,
        second_factor=SecondFactor(TotpStore(ctx.db)),
        person=lambda account: live.current.access.person(account),
        clock=ctx.clock,
        locale_of=ctx.locales.of_person,  # each approver reads the card in their language
    )
    service = ExecService(
        executor=executor,
        policy=judge,
        approvals=approvals,
        audit=ctx.audit,
        redactor=ctx.redactor,
        progress_interval=lambda: live.current.ssh.progress_interval,
    )
    people = OpsCommands(service=service, approvals=approvals, policy=ctx.policy)
    ctx.ports.provide(HOST_STATUS, people)
    ctx.ports.provide(CANCELLER, people)
    ctx.ports.provide(APPROVER, approvals)
    ctx.ports.provide(HOST_DESK, HostDesk(executor, lambda: live.current.known_hosts))
    ctx.ports.provide(COMMAND_RUNNER, CheckRunner(service, judge, ctx.access, ctx.policy))
    ctx.ports.provide(HOST_PROBE, Prober(executor, ctx.audit))

    def owners() -> list[str]:
        return live.current.access.owners

    ctx.ports.provide(HOST_ACTION, RuleActions(service, ctx.policy, router, owners))

    async def start() -> None:
        await approvals.expire_leftovers()  # their turns ended with the previous run

    async def reload(old: Config, new: Config) -> Reloaded:
        judge.configure(new.ssh)
        executor.configure(new.ssh)
        return Reloaded(tuple(changed_keys(old.ssh, new.ssh, "ssh")))

    return Feature(
        NAME,
        commands=people.commands(),
        actions=people.actions(),
        tools=(RunCommandTool(service), HostStatusTool(service)),
        start=start,
        reload=reload,
        parts={"exec": service, "approvals": approvals},
    )


def __getattr__(name: str) -> object:
    if name == "CLI":  # the command line, imported only by the command line
        from assistant.features.ssh.cli import POLICY, SSH

        return (SSH, POLICY)
    if name == "CHECKS":  # the doctor's, imported only by the doctor
        from assistant.features.ssh.checks import CHECKS

        return CHECKS
    raise AttributeError(name)
