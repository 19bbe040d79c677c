"""One MCP server's connection, owned by one task (the SDK's client must be entered and left
in the same task): connect, publish its tools to the feature's catalog, re-list them when the
server announces a change (``subscriptions/listen`` on 2026-07-28 servers, the handshake era's
``notifications/tools/list_changed`` on older ones) and every ``check_interval`` (the
liveness check), and when it dies take its tools away and raise, so the root's supervisor
restarts it with backoff and shows it on /readyz.

A ``lazy`` server is not started until one of its tools is called: meanwhile its tools are
offered from the list it gave last time (kept in the state directory); a server never listed
yet starts at once to be listed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from assistant.config.web import McpSection, McpServer
from assistant.core.errors import ToolError
from assistant.core.health import ComponentState, Health
from assistant.core.ports import Clock, within

log = structlog.get_logger(__name__)

# the feature's catalog: (this link, what the server lists now, the rules to apply or None)
Publish = Callable[["ServerLink", list[Any], McpSection | None], None]

RESOURCES = "resources"  # the tool SERVER__resources: the server's resources, listed and read


@dataclass(frozen=True, slots=True)
class Listed:
    """A tool as the catalog needs it: remembered from an earlier run, or ``resources``."""

    name: str
    description: str
    input_schema: dict[str, Any] = field(default_factory=dict)
    resources: bool = False


RESOURCES_TOOL = Listed(
    RESOURCES,
    "This MCP server's resources: without uri, their list (uri, name, description); with "
    "uri, the contents of that one.",
    {"type": "object", "properties": {"uri": {"type": "string"}}},
    resources=True,
)


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
        cache_dir: Path,
    ) -> None:
        self.server = server
        self.component = f"mcp.{server.name}"
        self._section = section
        self._publish = publish
        self._health = health
        self._clock = clock
        self._cache = cache_dir / f"{server.name}.json"
        self._client: Any = None
        self._broken = asyncio.Event()
        self._wake = asyncio.Event()  # a change announced, or the link broke
        self._wanted = asyncio.Event()  # a lazy server's tool was called
        self._connected = asyncio.Event()
        self._written = ""
        self.remote_tools: list[str] = []

    async def run(self) -> None:
        if self.server.lazy and not self._wanted.is_set():
            await self._idle()
        from mcp import Client

        self._broken = asyncio.Event()
        self._wake = asyncio.Event()
        async with AsyncExitStack() as stack:
            stack.callback(self._drop_tools)
            target = await self._target(stack)
            client = await stack.enter_async_context(
                Client(
                    target,
                    read_timeout_seconds=self.server.timeout,
                    message_handler=self._on_message,
                )
            )
            self._client = client
            stack.callback(self._forget_client)
            await self.refresh()
            watcher = asyncio.create_task(self._watch(client), name=f"{self.component}.watch")
            stack.push_async_callback(_cancelled, watcher)  # before the client is left
            tools = f"{len(self.remote_tools)} tools"
            self._health.set(self.component, ComponentState.READY, tools)
            self._connected.set()
            stack.callback(self._wanted.clear)  # a lazy server that dies waits for a use again
            log.info("mcp.connected", server=self.server.name, tools=len(self.remote_tools))
            while True:
                await within(self._clock, self._section().check_interval, self._wake.wait())
                self._wake.clear()
                if self._broken.is_set():
                    raise ServerGone(f"the MCP server {self.server.name!r} closed the connection")
                await self.refresh()  # the liveness check: a dead server raises here

    async def _idle(self) -> None:
        """Offer a lazy server's remembered tools until one is called; at once when there
        are none (never listed, or its command or URL changed since): it starts to be listed."""
        known = await asyncio.to_thread(self._remembered)
        if known is None:
            return
        self._publish(self, known, None)
        detail = f"idle: starts on first use ({len(known)} tools known)"
        self._health.set(self.component, ComponentState.READY, detail)
        await self._wanted.wait()

    async def _on_message(self, message: Any) -> None:
        """The handshake era's announcement of a changed tool list (2026-07-28 servers use
        the subscription in ``_watch``)."""
        from mcp import types

        if isinstance(message, types.ToolListChangedNotification):
            log.info("mcp.tools_changed", server=self.server.name)
            self._wake.set()

    async def _watch(self, client: Any) -> None:
        """Re-list the tools when the server announces a change (protocol 2026-07-28); older
        servers announce it with a notification (``_on_message``)."""
        from mcp.client.subscriptions import ListenNotSupportedError

        try:
            async with client.listen(tools_list_changed=True) as changes:
                async for _event in changes:
                    log.info("mcp.tools_changed", server=self.server.name)
                    self._wake.set()
        except ListenNotSupportedError:
            return
        except Exception as exc:  # noqa: BLE001 - a lost subscription: the link is suspect
            log.info("mcp.listen_ended", server=self.server.name, error=str(exc))
            self._broken.set()
            self._wake.set()

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
        self._connected.clear()

    async def refresh(self, section: McpSection | None = None) -> None:
        """List the server's tools again and register what the config (``section``, else the
        one in force) offers of them."""
        client = self._client
        if client is None:
            return
        try:
            listed = list((await client.list_tools(cache_mode="refresh")).tools)
        except Exception as exc:
            raise ServerGone(
                f"the MCP server {self.server.name!r} stopped answering: {exc}"
            ) from exc
        self.remote_tools = [t.name for t in listed]
        if client.server_capabilities.resources is not None:
            listed.append(RESOURCES_TOOL)
        if self.server.lazy:
            await self._remember(listed)
        self._publish(self, listed, section)

    async def relist(self, section: McpSection) -> None:
        """``refresh`` from outside the link's task (a reload): a server found dead is left
        to its task, which restarts it."""
        try:
            await self.refresh(section)
        except ServerGone as exc:
            log.info("mcp.relist_failed", server=self.server.name, error=str(exc))
            self._broken.set()
            self._wake.set()

    def _drop_tools(self) -> None:
        self.remote_tools = []
        self._publish(self, [], None)

    def _identity(self) -> str:
        """What makes a remembered list this server's: its command and arguments, or URL."""
        what = [self.server.command, *self.server.args, self.server.url]
        return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]

    async def _remember(self, listed: list[Any]) -> None:
        """Keep a lazy server's list for its next idle start (written when it changed)."""
        tools = [
            {
                "name": t.name,
                "description": t.description or "",
                "input_schema": t.input_schema,
                "resources": t is RESOURCES_TOOL,
            }
            for t in listed
        ]
        text = json.dumps({"server": self._identity(), "tools": tools}, ensure_ascii=False)
        if text != self._written:
            await asyncio.to_thread(_write, self._cache, text)
            self._written = text

    def _remembered(self) -> list[Any] | None:
        try:
            data = json.loads(self._cache.read_text())
            if data["server"] != self._identity():
                return None
            return [RESOURCES_TOOL if t["resources"] else Listed(**t) for t in data["tools"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    async def _connection(self) -> Any:
        """The client, starting a lazy server first; a ``ToolError`` when there is none."""
        if self._client is None and self.server.lazy:
            self._wanted.set()
            await within(self._clock, self.server.timeout, self._connected.wait())
        client = self._client
        if client is None:
            raise ToolError(
                f"the MCP server {self.server.name!r} is not connected; it is being restarted"
            )
        return client

    async def call(self, remote: str, arguments: dict[str, Any]) -> Any:
        client = await self._connection()
        return await self._request(remote, client.call_tool(remote, arguments))

    async def resources(self, _remote: str, arguments: dict[str, Any]) -> str:
        """The server's resources (``uri`` not given), or the text of the one named."""
        client = await self._connection()
        uri = arguments.get("uri")
        if not uri:
            found = await self._request(RESOURCES, client.list_resources(cache_mode="refresh"))
            lines = [
                f"{r.uri}  {r.name}" + (f": {r.description}" if r.description else "")
                for r in found.resources
            ]
            if found.next_cursor:
                lines.append("[more resources not listed]")
            return "\n".join(lines) or "(no resources)"
        read = await self._request(RESOURCES, client.read_resource(str(uri), cache_mode="bypass"))
        parts = [
            c.text if isinstance(getattr(c, "text", None), str) else f"[binary: {c.mime_type}]"
            for c in read.contents
        ]
        return "\n".join(parts) or "(empty)"

    async def _request(self, what: str, request: Any) -> Any:
        from mcp import MCPError

        try:
            async with asyncio.timeout(self.server.timeout):
                return await request
        except TimeoutError:
            raise ToolError(
                f"the MCP tool {what!r} did not answer within {self.server.timeout:.0f}s"
            ) from None
        except MCPError as exc:
            if "closed" in str(exc).lower():
                self._broken.set()
                self._wake.set()
                raise ToolError(
                    f"the MCP server {self.server.name!r} went away during the call; it is "
                    "being restarted"
                ) from None
            raise ToolError(f"the MCP server {self.server.name!r}: {exc}") from None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(text)
    partial.replace(path)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
