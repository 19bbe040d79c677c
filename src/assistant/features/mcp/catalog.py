"""All servers' tools as the registry offers them, laid out again whenever a server's list
changes, a server goes or the rules change.

Every tool schema is paid for on every turn. Above ``[mcp] full_schemas`` offered tools, each
is listed compactly (its name, the first sentence of its description, no parameters) and one
more tool, ``mcp_schema``, gives the model a tool's full description and parameters on
demand."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from assistant.config.web import McpSection, McpServer
from assistant.core.roles import Permission
from assistant.core.tools import ToolContext, ToolResult
from assistant.features.mcp.tools import McpTool
from assistant.tools.registry import MCP_SCHEMA, ToolRegistry, compact_schema

if TYPE_CHECKING:
    from assistant.features.mcp.link import ServerLink

MakeTool = Callable[[McpSection, McpServer, Any, "ServerLink"], McpTool | None]


class Catalog:
    def __init__(
        self, registry: ToolRegistry, make_tool: MakeTool, section: Callable[[], McpSection]
    ) -> None:
        self._registry = registry
        self._make_tool = make_tool
        self._section = section
        self._listed: dict[str, tuple[ServerLink, list[Any]]] = {}
        self._registered: list[str] = []
        self.tools: dict[str, McpTool] = {}
        self.compact = False

    def publish(self, link: ServerLink, listed: list[Any], section: McpSection | None) -> None:
        if listed:
            self._listed[link.server.name] = (link, listed)
        else:
            self._listed.pop(link.server.name, None)
        self.layout(section)

    def layout(self, section: McpSection | None = None) -> None:
        rules = section or self._section()
        built = [
            tool
            for _name, (link, listed) in sorted(self._listed.items())
            for remote in listed
            if (tool := self._make_tool(rules, link.server, remote, link)) is not None
        ]
        self.compact = len(built) > rules.full_schemas
        for name in self._registered:
            self._registry.unregister(name)
        self._registered = []
        self.tools = {}
        for tool in built:
            if self.compact:
                tool.make_compact()
            if self._registry.get(tool.name) is not None:
                continue  # two servers' names cut to the same 64 characters: the first wins
            self._registry.register(tool)
            self._registered.append(tool.name)
            self.tools[tool.name] = tool
        if self.compact:
            self._registry.register(SchemaTool(self))
            self._registered.append(SchemaTool.name)


class SchemaParams(BaseModel):
    tool: str


class SchemaTool:
    name = MCP_SCHEMA
    description = "Description and parameters of a tool listed without them (name with __)."
    permission = Permission.CHAT
    side_effects = False
    Params = SchemaParams

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    async def call(self, params: SchemaParams, ctx: ToolContext) -> ToolResult:
        tool = self._catalog.tools.get(params.tool)
        if tool is None or tool.permission not in ctx.permissions:
            names = ", ".join(
                n for n, t in self._catalog.tools.items() if t.permission in ctx.permissions
            )
            return ToolResult.error(f"No MCP tool {params.tool!r}. Yours: {names or 'none'}.")
        schema = compact_schema(tool.full_schema)
        schema.pop("description", None)
        return ToolResult(
            json.dumps(
                {"name": tool.name, "description": tool.full_description, "parameters": schema},
                ensure_ascii=False,
            )
        )
