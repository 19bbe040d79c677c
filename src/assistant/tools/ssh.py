"""The model's SSH tools: run_command and host_status (a server's state, or the list)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from assistant.core.i18n import tr
from assistant.core.roles import Permission
from assistant.core.tools import ToolContext, ToolResult
from assistant.tools.exec import STATUS_COMMAND, ExecRequest, ExecService


class RunCommandParams(BaseModel):
    host: str = Field(description="name, or a tag for all its hosts")
    command: str
    timeout: int | None = Field(None, ge=1, le=3600)  # seconds


class RunCommandTool:
    name = "run_command"
    description = "Run a shell command on a server; a policy may refuse it or ask a person."
    permission = Permission.EXEC_READONLY
    side_effects = True
    Params = RunCommandParams

    def __init__(self, service: ExecService) -> None:
        self._service = service

    async def call(self, params: RunCommandParams, ctx: ToolContext) -> ToolResult:
        report = await self._service.execute(
            ExecRequest(
                hosts=params.host,
                command=params.command,
                sender=ctx.sender,
                chat=ctx.chat,
                permissions=ctx.permissions,
                io=ctx.io,
                hold=ctx.hold,
                timeout=params.timeout,
            )
        )
        return ToolResult(report.text, report.is_error)


def host_lines(service: ExecService) -> str:
    config = service.executor.config
    if not config.hosts:
        return tr("No hosts are configured ([[ssh.hosts]] in the config).")
    lines = []
    for h in config.hosts:
        extra = tr(" tags: {tags}").format(tags=", ".join(h.tags)) if h.tags else ""
        via = tr(" via {jump}").format(jump=h.jump) if h.jump else ""
        lines.append(f"{h.name}: {h.user or config.user}@{h.address}:{h.port}{via}{extra}")
    return "\n".join(lines)


class HostStatusParams(BaseModel):
    host: str | None = Field(None, description="none: list the servers")


class HostStatusTool:
    name = "host_status"
    description = "A server's load, memory, disks and failed units."
    permission = Permission.EXEC_READONLY
    side_effects = False
    Params = HostStatusParams

    def __init__(self, service: ExecService) -> None:
        self._service = service

    async def call(self, params: HostStatusParams, ctx: ToolContext) -> ToolResult:
        if not params.host:  # the inventory: one tool rather than two, each costs every prompt
            return ToolResult(host_lines(self._service))
        report = await self._service.execute(
            ExecRequest(
                hosts=params.host,
                command=STATUS_COMMAND,
                sender=ctx.sender,
                chat=ctx.chat,
                permissions=ctx.permissions,
                io=ctx.io,
                trusted=True,
            )
        )
        return ToolResult(report.text, report.is_error)
