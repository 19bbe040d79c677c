"""Building the MCP feature: one supervised link per configured server, its tools under the
policy the config gives them."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from assistant.config.web import McpSection, McpServer
from assistant.core.errors import ConfigError
from assistant.feature import APPROVER, Component, Feature, Reloaded, changed_keys
from assistant.features.mcp.catalog import Catalog
from assistant.features.mcp.link import ServerLink
from assistant.features.mcp.servers import Servers
from assistant.features.mcp.tools import McpTool, local_name

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.kernel import Context


async def build(ctx: Context) -> Feature:
    if importlib.util.find_spec("mcp") is None:
        raise ConfigError(
            [
                "[[mcp.servers]] needs the MCP SDK, which is not installed: run "
                "pip install 'assistant[mcp]' in the assistant's environment, or remove the "
                "servers"
            ]
        )
    live = ctx.live

    def section() -> McpSection:
        return live.current.mcp

    def make_tool(
        rules: McpSection, server: McpServer, remote: Any, link: ServerLink
    ) -> McpTool | None:
        rule = rules.rule(local_name(server.name, remote.name))
        if rule.mode == "deny":
            return None
        return McpTool(
            server=server.name,
            remote=remote.name,
            description=remote.description or "",
            schema=remote.input_schema,
            rule=rule,
            call=link.resources if getattr(remote, "resources", False) else link.call,
            approver=lambda: ctx.ports.get(APPROVER),
            audit=ctx.audit,
            max_result=rules.max_result,
        )

    catalog = Catalog(ctx.tools, make_tool, section)

    def make_link(server: McpServer) -> ServerLink:
        return ServerLink(
            server,
            section=section,
            publish=catalog.publish,
            health=ctx.health,
            clock=ctx.clock,
            cache_dir=ctx.state_dir / "mcp",
        )

    servers = Servers(
        make_link, catalog.publish, health=ctx.health, redactor=ctx.redactor, clock=ctx.clock
    )
    for server in section().servers:
        servers.add(server)

    async def reload(old: Config, new: Config) -> Reloaded:
        catalog.layout(new.mcp)  # the new rules, at once
        started = await servers.apply(new.mcp)  # servers added, removed or changed
        for name, link in servers.links.items():
            if name not in started:
                await link.relist(new.mcp)  # and whatever the others list now
        return Reloaded(tuple(changed_keys(old.mcp, new.mcp, "mcp")))

    return Feature(
        "mcp",
        components=[Component("mcp", servers.run)],
        reload=reload,
        parts={"links": servers.links, "catalog": catalog},
    )
