"""Monitoring checks' commands over SSH (the ``CommandRunner`` port): only what the policy
allows the check's creator outright — never an approval, nobody is there to press it —
audited like any run."""

from __future__ import annotations

import asyncio

from assistant.core.i18n import tr
from assistant.core.messages import ChatRef, Sender
from assistant.core.ports import CommandOutcome
from assistant.router.access import Access
from assistant.security.commands import Judge, Verdict
from assistant.security.policy import Policy
from assistant.tools.exec import ExecRequest, ExecService


class CheckRunner:
    def __init__(self, service: ExecService, judge: Judge, access: Access, policy: Policy) -> None:
        self._service = service
        self._judge = judge
        self._access = access
        self._policy = policy

    def hosts(self) -> list[str]:
        return [h.name for h in self._service.executor.config.hosts]

    async def refusal(self, host: str, command: str, actor: str) -> str | None:
        channel, _, user_id = actor.partition(":")
        role = await self._access.role(channel, user_id)
        if role is None:
            return tr("its creator no longer has access")
        target = self._service.executor.config.host(host)
        if target is None:
            return tr("there is no host {host!r}").format(host=host)
        decision = await asyncio.to_thread(
            self._judge.decide,
            permissions=self._policy.permissions(role),
            host=target,
            command=command,
        )
        if decision.verdict is not Verdict.ALLOW:
            return tr("{reason} (a check runs only commands allowed without approval)").format(
                reason=decision.reason
            )
        return None

    async def run(self, host: str, command: str, *, timeout: float, actor: str) -> CommandOutcome:
        channel, _, user_id = actor.partition(":")
        role = await self._access.role(channel, user_id)
        report = await self._service.execute(
            ExecRequest(
                hosts=host,
                command=command,
                sender=Sender(user_id),
                chat=ChatRef(channel, user_id),
                permissions=self._policy.permissions(role) if role else frozenset(),
                timeout=timeout,
                trusted=True,  # decided by refusal() just before, with the creator's role
            )
        )
        if not report.results:
            return CommandOutcome(-1, report.text)
        result = report.results[0]
        status = result.exit_status if result.exit_status is not None else -1
        return CommandOutcome(status, result.output)
