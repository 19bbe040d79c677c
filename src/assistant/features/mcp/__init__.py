"""MCP: the tools of the MCP servers in ``[[mcp.servers]]``, as ``server__tool``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.feature import Feature
    from assistant.kernel import Context

NAME = "mcp"


def enabled(config: Config) -> bool:
    return bool(config.mcp.servers)


async def setup(ctx: Context) -> Feature:
    from assistant.features.mcp.feature import build

    return await build(ctx)
