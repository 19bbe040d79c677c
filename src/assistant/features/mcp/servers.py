"""The configured MCP servers as one long-running component: a supervised link per server in
a task group of its own, so a reload can start a server added to the config and stop one
removed or changed, without a restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from assistant.config.web import McpSection, McpServer
from assistant.core.health import Health
from assistant.core.ports import Clock
from assistant.core.redact import Redactor
from assistant.core.supervise import supervise
from assistant.features.mcp.link import Publish, ServerLink

log = structlog.get_logger(__name__)

MakeLink = Callable[[McpServer], ServerLink]


class Servers:
    def __init__(
        self,
        make_link: MakeLink,
        publish: Publish,
        *,
        health: Health,
        redactor: Redactor,
        clock: Clock,
    ) -> None:
        self._make_link = make_link
        self._publish = publish
        self._health = health
        self._redactor = redactor
        self._clock = clock
        self.links: dict[str, ServerLink] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None

    def add(self, server: McpServer) -> ServerLink:
        link = self._make_link(server)
        self.links[server.name] = link
        self._health.register(link.component, required=False)
        if self._group is not None:
            self._start(link)
        return link

    async def run(self) -> None:
        """Every link, supervised, until cancelled (the daemon's shutdown stops them all)."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                for link in self.links.values():
                    self._start(link)
                await asyncio.Event().wait()
            finally:
                self._group = None

    def _start(self, link: ServerLink) -> None:
        assert self._group is not None
        self._tasks[link.server.name] = self._group.create_task(
            supervise(
                link.component,
                link.run,
                health=self._health,
                redactor=self._redactor,
                clock=self._clock,
            ),
            name=link.component,
        )

    async def remove(self, name: str) -> None:
        link = self.links.pop(name)
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._publish(link, [], None)  # an idle lazy server's remembered tools too
        self._health.unregister(link.component)

    async def apply(self, section: McpSection) -> list[str]:
        """Start the servers ``section`` adds, stop those it removes, restart those it
        changes; the names of the servers started or stopped."""
        wanted = {s.name: s for s in section.servers}
        changed = [n for n, link in self.links.items() if wanted.get(n) != link.server]
        for name in changed:
            log.info("mcp.server_stopped", server=name, reason="config")
            await self.remove(name)
        added = [s for n, s in wanted.items() if n not in self.links]
        for server in added:
            log.info("mcp.server_added", server=server.name)
            self.add(server)
        return sorted(set(changed) | {s.name for s in added})
