"""Telegram: the bot as a chat channel (long polling or a webhook on the gateway).

The adapter is imported in ``setup``, never when this package is imported. aiogram is not
imported at all: the adapter speaks the Bot API through ``channels.telegram.api.BotAPI``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.feature import Feature, Reloaded, Route

if TYPE_CHECKING:
    import aiohttp

    from assistant.channels.telegram.adapter import TelegramChannel
    from assistant.config import Config
    from assistant.core.health import Health
    from assistant.core.redact import Redactor
    from assistant.kernel import Context

NAME = "telegram"
CHANNEL = True


def enabled(config: Config) -> bool:
    return config.telegram.enabled


def channel(
    config: Config,
    *,
    session: aiohttp.ClientSession,
    health: Health,
    redactor: Redactor,
    ctx: Context | None = None,
) -> TelegramChannel:
    """The adapter, not yet opened. Without ``ctx`` it can send but not receive (the command
    line uses it to tell a person something)."""
    from assistant.channels.telegram.adapter import TelegramChannel
    from assistant.store.dead_letters import DeadLetters

    def menu() -> list[tuple[str, str]]:
        return [(c.name, c.summary) for c in ctx.commands.menu()] if ctx is not None else []

    return TelegramChannel(
        config.telegram,
        session=session,
        health=health,
        redactor=redactor,
        commands=menu,
        dead_letters=DeadLetters(ctx.db) if ctx is not None else None,
    )


async def setup(ctx: Context) -> Feature:
    section = ctx.config.telegram
    adapter = await ctx.stack.enter_async_context(
        channel(ctx.config, session=ctx.session, health=ctx.health, redactor=ctx.redactor, ctx=ctx)
    )
    ctx.media.set_limits(
        NAME,
        max_bytes=int(section.max_file_mb * 1024 * 1024),
        max_document_chars=section.max_document_chars,
    )

    async def reload(old: Config, new: Config) -> Reloaded:
        return Reloaded()  # the bot's settings take effect at the next start

    return Feature(
        NAME,
        channels=(adapter,),
        routes=tuple(Route(*r) for r in adapter.routes()),
        reload=reload,
    )


def __getattr__(name: str) -> object:
    if name == "CHECKS":  # the doctor's, imported only by the doctor
        from assistant.features.telegram.checks import CHECKS

        return CHECKS
    raise AttributeError(name)
