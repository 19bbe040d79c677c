"""Plugins: tools from installed Python packages (the entry point group ``assistant.tools``),
enabled by name in ``[[plugins.tools]]``; only the named ones are imported, at start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.feature import APPROVER, Feature

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.kernel import Context

NAME = "plugins"


def enabled(config: Config) -> bool:
    return bool(config.plugins.tools)


async def setup(ctx: Context) -> Feature:
    from assistant.features.plugins.loader import load_tools

    section = ctx.config.plugins
    tools = load_tools(
        section,
        taken=set(ctx.tools.names),
        approver=lambda: ctx.ports.get(APPROVER),
        audit=ctx.audit,
    )
    return Feature(NAME, tools=tools, parts={"plugins": {t.name: t for t in tools}})
