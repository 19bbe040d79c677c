"""SSH: commands on the owner's servers under the command policy, with approvals and audit.

Adds the model's tools (run_command, host_status), the people's commands (/run, /hosts) and
the Cancel button, and offers what /status HOST and /cancel reach, what monitoring checks run
commands with, and the monitor's host probe. A command the policy asks about goes to the
``APPROVER`` port (the approvals feature, which every assistant has, with /approve, /deny and
their buttons).
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
    ),
    hint=N_(
        "no servers yet: add a [[ssh.hosts]] entry (name, address, user) to the config and "
        "restart the assistant (docs/ssh.md)",
    ),
)


def enabled(config: Config) -> bool:
    return config.ssh.enabled and bool(config.ssh.hosts)


async def setup(ctx: Context) -> Feature:
    from assistant.features.ssh.commands import OpsCommands
    from assistant.features.ssh.desk import HostDesk
    from assistant.features.ssh.probe import Prober, RuleActions
    from assistant.features.ssh.runner import CheckRunner
    from assistant.security.isolated import IsolatedPolicy
    from assistant.ssh.executor import SSHExecutor
    from assistant.tools.exec import ExecService
    from assistant.tools.ssh import HostStatusTool, RunCommandTool

    live = ctx.live
    executor = await ctx.stack.enter_async_context(
        SSHExecutor(live.current.ssh, known_hosts=live.current.known_hosts)
    )
    judge = IsolatedPolicy(live.current.ssh)
    ctx.stack.callback(judge.close)
    service = ExecService(
        executor=executor,
        policy=judge,
        approvals=lambda: ctx.ports.get(APPROVER),
        audit=ctx.audit,
        redactor=ctx.redactor,
        progress_interval=lambda: live.current.ssh.progress_interval,
    )
    people = OpsCommands(service=service, policy=ctx.policy)
    ctx.ports.provide(HOST_STATUS, people)
    ctx.ports.provide(CANCELLER, people)
    ctx.ports.provide(HOST_DESK, HostDesk(executor, lambda: live.current.known_hosts))
    ctx.ports.provide(COMMAND_RUNNER, CheckRunner(service, judge, ctx.access, ctx.policy))
    ctx.ports.provide(HOST_PROBE, Prober(executor, ctx.audit))

    def owners() -> list[str]:
        return live.current.access.owners

    ctx.ports.provide(HOST_ACTION, RuleActions(service, ctx.policy, ctx.router, owners))

    async def reload(old: Config, new: Config) -> Reloaded:
        judge.configure(new.ssh)
        executor.configure(new.ssh)
        return Reloaded(tuple(changed_keys(old.ssh, new.ssh, "ssh")))

    return Feature(
        NAME,
        commands=people.commands(),
        actions=people.actions(),
        tools=(RunCommandTool(service), HostStatusTool(service)),
        reload=reload,
        parts={"exec": service},
    )


def __getattr__(name: str) -> object:
    if name == "CLI":  # the command line, imported only by the command line
        from assistant.features.ssh.cli import POLICY, SSH

        return (SSH, POLICY)
    if name == "CHECKS":  # the doctor's, imported only by the doctor
        from assistant.features.ssh.checks import CHECKS

        return CHECKS
    raise AttributeError(name)
