"""What the SSH feature offers the monitor.

The ``HostProbe`` port: the monitor's fixed probe over the pooled connection, audited as
``monitor.probe`` when a host's probe starts, and whenever its outcome changes (succeeding ↔
failing) — not every minute, which would grow the append-only audit chain by 1,440 records a
host a day."""

from __future__ import annotations

from collections.abc import Callable

import asyncssh
import structlog

from assistant.core.errors import ToolError
from assistant.core.i18n import tr
from assistant.core.messages import ChatRef, Sender
from assistant.core.roles import Role
from assistant.router.delivery import ChatOutput
from assistant.router.router import Router
from assistant.security.policy import Policy
from assistant.ssh.executor import SSHExecutor
from assistant.ssh.probe import probe_command
from assistant.store.audit import AuditLog
from assistant.tools.exec import ExecRequest, ExecService

log = structlog.get_logger(__name__)


class Prober:
    def __init__(self, executor: SSHExecutor, audit: AuditLog) -> None:
        self._executor = executor
        self._audit = audit
        self._last: dict[str, tuple[str, bool]] = {}  # host → (command, succeeded)

    def hosts(self) -> list[str]:
        return [h.name for h in self._executor.config.hosts if h.monitor]

    async def probe(self, host: str, *, timeout: float) -> str:
        target = self._executor.host(host)
        if not target.monitor:
            raise ToolError(f"{host} is not monitored (monitor = true in its [[ssh.hosts]] entry)")
        command = probe_command(target.units)
        try:
            result = await self._executor.run(host, command, timeout=timeout)
        except ToolError as exc:
            await self._note(host, command, ok=False, error=str(exc))
            raise
        except (OSError, asyncssh.Error) as exc:  # the connection broke mid-probe
            await self._note(host, command, ok=False, error=type(exc).__name__)
            raise ToolError(f"the probe of {host} failed ({type(exc).__name__})") from exc
        if not result.ok:
            why = "timed out" if result.timed_out else f"exit {result.exit_status}"
            await self._note(host, command, ok=False, error=why)
            raise ToolError(f"the probe of {host} failed ({why})")
        await self._note(host, command, ok=True, ms=round(result.duration * 1000))
        return result.output

    async def _note(self, host: str, command: str, *, ok: bool, **data: object) -> None:
        if self._last.get(host) == (command, ok):
            return
        self._last[host] = (command, ok)
        await self._audit.append(
            "monitor.probe", "monitor", host=host, command=command, ok=ok, **data
        )


class RuleActions:
    """The ``HostAction`` port: a monitor rule's action through the same path as a person's
    request — the command policy, approvals (the requester is "monitor", so an owner may
    approve), the audit — on behalf of the first owner on a running channel, in whose chat
    the approval progress and the result appear."""

    def __init__(
        self,
        service: ExecService,
        policy: Policy,
        router: Router,
        owners: Callable[[], list[str]],
    ) -> None:
        self._service = service
        self._policy = policy
        self._router = router
        self._owners = owners

    def _owner(self) -> ChatRef | None:
        running = set(self._router.channels)
        for owner in self._owners():
            channel, _, user_id = owner.partition(":")
            if channel in running:
                return ChatRef(channel, user_id)
        return None

    async def run_action(self, host: str, command: str, *, reason: str) -> str:
        chat = self._owner()
        if chat is None:
            log.warning("monitor.action_no_owner", host=host)
            return tr("No owner is reachable on a running channel; nothing was run.")
        channel = self._router.channels[chat.channel]
        io = ChatOutput(channel, chat)
        await io.send(reason)
        report = await self._service.execute(
            ExecRequest(
                hosts=host,
                command=command,
                sender=Sender("monitor", name="monitor"),
                chat=chat,
                permissions=self._policy.permissions(Role.OWNER),
                role=Role.OWNER,
                io=io,
            )
        )
        await io.send(report.text)
        return report.text
