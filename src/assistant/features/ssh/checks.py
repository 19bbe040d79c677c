"""The doctor's look at each SSH host: its key is pinned, and a login runs ``true``."""

from __future__ import annotations

import time

from assistant.core.errors import AssistantError
from assistant.feature import Check, CheckContext, Finding, Status, skipped_without_config


async def check_ssh(ctx: CheckContext) -> list[Finding]:
    config = ctx.config
    if config is None:
        return skipped_without_config("ssh")
    if not config.ssh.enabled or not config.ssh.hosts:
        return [Finding("ssh", Status.SKIP, "no [[ssh.hosts]] configured")]
    from assistant.ssh.executor import SSHExecutor
    from assistant.ssh.trust import pinned_lines

    path = config.known_hosts
    findings: list[Finding] = []
    async with SSHExecutor(config.ssh, known_hosts=path) as executor:
        for host in config.ssh.hosts:
            name = f"ssh {host.name}"
            if not pinned_lines(path, host):
                findings.append(
                    Finding(
                        name,
                        Status.FAIL,
                        f"no host key pinned for {host.address}:{host.port}",
                        f"sudo -u assistant assistant ssh trust {host.name}",
                    )
                )
                continue
            started = time.monotonic()
            try:
                result = await executor.run(host.name, "true", timeout=max(5.0, ctx.timeout))
            except AssistantError as exc:
                findings.append(Finding(name, Status.FAIL, str(exc), _ssh_fix(str(exc), host.name)))
                continue
            took = time.monotonic() - started
            user = host.user or config.ssh.user
            status = Status.OK if result.ok else Status.WARN
            where = f"{user}@{host.address}:{host.port}"
            exited = "" if result.ok else f" (exit {result.exit_status})"
            detail = f"{where}, key pinned, login and `true` in {took:.1f}s{exited}"
            findings.append(Finding(name, status, detail))
    return findings


def _ssh_fix(problem: str, host: str) -> str:
    if "pinned" in problem:
        return f"if the change is expected: sudo -u assistant assistant ssh trust {host}"
    if "refused the login" in problem:
        return "add the assistant's public key to the account's ~/.ssh/authorized_keys"
    return "check the address, the port and the firewall"


CHECKS = (Check("ssh", check_ssh),)
