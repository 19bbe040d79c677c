"""One MCP server's connection, owned by one task (the SDK's client must be entered and left
in the same task): connect, publish its tools to the feature's catalog, check it is alive
every ``check_interval`` (re-listing its tools, so a changed list is picked up), and when it
dies take its tools away and raise, so the root's supervisor restarts it with backoff and
shows it on /readyz."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import structlog

from assistant.config.web import McpSection, McpServer
from assistant.core.errors import ToolError
from assistant.core.health import ComponentState, Health
from assistant.core.ports import Clock, within

log = structlog.get_logger(__name__)

# the feature's catalog: (this link, what the server lists now, the rules to apply or None)
Publish = Callable[["ServerLink", list[Any], McpSection | None], None]


class ServerGone(ConnectionError):
    """The server's connection closed (the process exited, the HTTP session ended)."""


class ServerLink:
    def __init__(
        self,
        server: McpServer,
        *,
        section: Callable[[], McpSection],
        publish: Publish,
        health: Health,
        clock: Clock,
    ) -> None:
        self.server = server
        self.component = f"mcp.{server.name}"
        self._section = section
        self._publish = publish
        self._health = health
        self._clock = clock
        self._client: Any = None
        self._broken = asyncio.Event()
        self.remote_tools: list[str] = []

    async def run(self) -> None:
        from mcp import Client

        self._broken = asyncio.Event()
        async with AsyncExitStack() as stack:
            stack.callback(self._drop_tools)
            target = await self._target(stack)
            client = await stack.enter_async_context(
                Client(target, read_timeout_seconds=self.server.timeout)
            )
            self._client = client
            stack.callback(self._forget_client)
            await self.refresh()
            watcher = asyncio.create_task(self._watch(client), name=f"{self.component}.watch")
            stack.push_async_callback(_cancelled, watcher)  # before the client is left
            tools = f"{len(self.remote_tools)} tools"
            self._health.set(self.component, ComponentState.READY, tools)
            log.info("mcp.connected", server=self.server.name, tools=len(self.remote_tools))
            while True:
                if await within(self._clock, self._section().check_interval, self._broken.wait()):
                    raise ServerGone(f"the MCP server {self.server.name!r} closed the connection")
                await self.refresh()  # the liveness check: a dead server raises here

    async def _watch(self, client: Any) -> None:
        """Re-list the tools when the server announces a change (protocol 2026-07-28); older
        servers are re-listed every ``check_interval`` instead."""
        from mcp.client.subscriptions import ListenNotSupportedError

        try:
            async with client.listen(tools_list_changed=True) as changes:
                async for _event in changes:
                    log.info("mcp.tools_changed", server=self.server.name)
                    await self.refresh()
        except ListenNotSupportedError:
            return
        except ServerGone:
            self._broken.set()
        except Exception as exc:  # noqa: BLE001 - a lost subscription: the link is suspect
            log.info("mcp.listen_ended", server=self.server.name, error=str(exc))
            self._broken.set()

    async def _target(self, stack: AsyncExitStack) -> Any:
        if self.server.command is not None:
            from mcp import StdioServerParameters

            return StdioServerParameters(
                command=self.server.command,
                args=list(self.server.args),
                env=dict(self.server.env),
                cwd=self.server.cwd,
            )
        import httpx2  # the SDK's HTTP client (a dependency of mcp)
        from mcp.client.streamable_http import streamable_http_client

        headers = {k: v.get_secret_value() for k, v in self.server.headers.items()}
        # the SDK's own defaults: 30 s to connect or write, 300 s to read a held stream
        timeout = httpx2.Timeout(30.0, read=300.0)
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=headers, timeout=timeout, trust_env=False)
        )
        assert self.server.url is not None
        return streamable_http_client(self.server.url, http_client=http)

    def _forget_client(self) -> None:
        self._client = None

    async def refresh(self, section: McpSection | None = None) -> None:
        """List the server's tools again and register what the config (``section``, else the
        one in force) offers of them."""
        client = self._client
        if client is None:
            return
        try:
            listed = (await client.list_tools(cache_mode="refresh")).tools
        except Exception as exc:
            raise ServerGone(
                f"the MCP server {self.server.name!r} stopped answering: {exc}"
            ) from exc
        self.remote_tools = [t.name for t in listed]
        self._publish(self, list(listed), section)

    def _drop_tools(self) -> None:
        self.remote_tools = []
        self._publish(self, [], None)

    async def call(self, remote: str, arguments: dict[str, Any]) -> Any:
        client = self._client
        if client is None:
            raise ToolError(
                f"the MCP server {self.server.name!r} is not connected; it is being restarted"
            )
        from mcp import MCPError

        try:
            async with asyncio.timeout(self.server.timeout):
                return await client.call_tool(remote, arguments)
        except TimeoutError:
            raise ToolError(
                f"the MCP tool {remote!r} did not answer within {self.server.timeout:.0f}s"
            ) from None
        except MCPError as exc:
            if "closed" in str(exc).lower():
                self._broken.set()
                raise ToolError(
                    f"the MCP server {self.server.name!r} went away during the call; it is "
                    "being restarted"
                ) from None
            raise ToolError(f"the MCP server {self.server.name!r}: {exc}") from None


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
