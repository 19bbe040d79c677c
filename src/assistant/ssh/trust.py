"""Pinning host keys: fetch a server's key, show its fingerprint, write it to known_hosts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from assistant.config.ssh import SSHHost
from assistant.core.errors import ToolError
from assistant.ssh.executor import SSHExecutor


@dataclass(frozen=True, slots=True)
class HostKey:
    line: str  # the known_hosts line to pin
    algorithm: str
    fingerprint: str  # SHA256:…


def known_hosts_pattern(host: SSHHost) -> str:
    return host.address if host.port == 22 else f"[{host.address}]:{host.port}"


async def fetch_host_key(host: SSHHost, executor: SSHExecutor) -> HostKey:
    """The key the server presents now (through its jump host, which must be pinned)."""
    tunnel = None
    if host.jump is not None:
        tunnel = await executor.connection(host.jump)
    try:
        key = await asyncssh.get_server_host_key(
            host.address, host.port, tunnel=tunnel or (), config=None
        )
    except (OSError, asyncssh.Error) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise ToolError(
            f"cannot reach {host.name} ({host.address}:{host.port}): {reason}"
        ) from None
    if key is None:
        raise ToolError(f"{host.name} did not present a host key")
    public = key.export_public_key("openssh").decode().split()
    return HostKey(
        line=f"{known_hosts_pattern(host)} {public[0]} {public[1]}",
        algorithm=public[0],
        fingerprint=key.get_fingerprint("sha256"),
    )


def pinned_lines(known_hosts: Path, host: SSHHost) -> list[str]:
    if not known_hosts.exists():
        return []
    pattern = known_hosts_pattern(host)
    return [
        line for line in known_hosts.read_text().splitlines() if line.split(" ", 1)[0] == pattern
    ]


def fingerprint_of(line: str) -> str:
    key = asyncssh.import_public_key(" ".join(line.split()[1:3]))
    return key.get_fingerprint("sha256")


def pin(known_hosts: Path, host: SSHHost, key: HostKey) -> None:
    """Replace the host's pinned keys by ``key`` (written atomically, mode 0600)."""
    pattern = known_hosts_pattern(host)
    lines = []
    if known_hosts.exists():
        lines = [
            line
            for line in known_hosts.read_text().splitlines()
            if line.strip() and line.split(" ", 1)[0] != pattern
        ]
    lines.append(key.line)
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    temporary = known_hosts.with_name(known_hosts.name + ".tmp")
    temporary.write_text("\n".join(lines) + "\n")
    os.chmod(temporary, 0o600)
    temporary.replace(known_hosts)
