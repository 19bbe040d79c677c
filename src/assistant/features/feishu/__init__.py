"""Feishu (Lark): the app as a chat channel (long connection or a webhook on the gateway).

lark-oapi is imported only by the long connection's thread, when it starts; the adapter in
``setup``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.feature import Feature, Reloaded, Route

if TYPE_CHECKING:
    import aiohttp

    from assistant.channels.feishu.adapter import FeishuChannel
    from assistant.config import Config
    from assistant.core.health import Health
    from assistant.core.redact import Redactor
    from assistant.kernel import Context

NAME = "feishu"
CHANNEL = True


def enabled(config: Config) -> bool:
    return config.feishu.enabled


def channel(
    config: Config,
    *,
    session: aiohttp.ClientSession,
    health: Health,
    redactor: Redactor,
    ctx: Context | None = None,
) -> FeishuChannel:
    """The adapter, not yet opened. Without ``ctx`` it can send but not receive."""
    from assistant.channels.feishu.adapter import FeishuChannel
    from assistant.store.dead_letters import DeadLetters
    from assistant.store.seen import SeenEvents

    return FeishuChannel(
        config.feishu,
        session=session,
        health=health,
        redactor=redactor,
        seen=SeenEvents(ctx.db) if ctx is not None else None,
        dead_letters=DeadLetters(ctx.db) if ctx is not None else None,
    )


async def setup(ctx: Context) -> Feature:
    section = ctx.config.feishu
    adapter = await ctx.stack.enter_async_context(
        channel(ctx.config, session=ctx.session, health=ctx.health, redactor=ctx.redactor, ctx=ctx)
    )
    ctx.media.set_limits(
        NAME,
        max_bytes=int(section.max_file_mb * 1024 * 1024),
        max_document_chars=section.max_document_chars,
    )

    async def reload(old: Config, new: Config) -> Reloaded:
        return Reloaded()  # the app's settings take effect at the next start

    return Feature(
        NAME,
        channels=(adapter,),
        routes=tuple(Route(*r) for r in adapter.routes()),
        reload=reload,
    )


def __getattr__(name: str) -> object:
    if name == "CHECKS":  # the doctor's, imported only by the doctor
        from assistant.features.feishu.checks import CHECKS

        return CHECKS
    raise AttributeError(name)
