"""The SSH hosts as the web console shows them (``core.ports.HostDesk``): the inventory,
the pinned host keys, and whether a host answers now."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.core.errors import ToolError
from assistant.core.ports import HostInfo
from assistant.ssh.executor import SSHExecutor
from assistant.ssh.trust import fingerprint_of, pinned_lines


class HostDesk:
    def __init__(self, executor: SSHExecutor, known_hosts: Callable[[], Path]) -> None:
        self._executor = executor
        self._known_hosts = known_hosts

    def host_list(self) -> list[HostInfo]:
        config = self._executor.config
        out = []
        for host in config.hosts:
            pins = []
            for line in pinned_lines(self._known_hosts(), host):
                try:
                    pins.append(f"{line.split()[1]} {fingerprint_of(line)}")
                except (ValueError, IndexError, OSError):  # a line the file's owner mangled
                    pins.append(f"{line.split()[1] if ' ' in line else '?'} (unreadable)")
            out.append(
                HostInfo(
                    name=host.name,
                    address=host.address,
                    port=host.port,
                    user=host.user or config.user or "",
                    tags=tuple(host.tags),
                    jump=host.jump,
                    require_totp=host.require_totp,
                    pins=tuple(pins),
                )
            )
        return out

    async def probe(self, host: str) -> str | None:
        try:
            await self._executor.connection(host)
        except ToolError as exc:
            return str(exc)
        return None
