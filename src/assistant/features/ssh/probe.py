"""The ``HostProbe`` port: the monitor's fixed probe over the pooled connection, audited as
``monitor.probe`` when a host's probe starts, and whenever its outcome changes (succeeding ↔
failing) — not every minute, which would grow the append-only audit chain by 1,440 records a
host a day."""

from __future__ import annotations

from assistant.core.errors import ToolError
from assistant.ssh.executor import SSHExecutor
from assistant.ssh.probe import probe_command
from assistant.store.audit import AuditLog


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
