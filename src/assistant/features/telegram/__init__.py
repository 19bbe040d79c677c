"""Telegram: the bot as a chat channel (long polling or a webhook on the gateway).

The adapter is imported in ``setup``, never when this package is imported. aiogram is not
imported at all: the adapter speaks the Bot API through ``channels.telegram.api.BotAPI``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.feature import Feature, Reloaded, Route

if TYPE_CHECKING:
    import aiohttp

    from assistant.channels.telegram.adapter import Menu, TelegramChannel
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

    def menus() -> list[Menu]:
        return command_menus(ctx) if ctx is not None else []

    return TelegramChannel(
        config.telegram,
        session=session,
        health=health,
        redactor=redactor,
        menus=menus,
        dead_letters=DeadLetters(ctx.db) if ctx is not None else None,
    )


def command_menus(ctx: Context) -> list[Menu]:
    """The command menu in each language: the assistant's default language for everyone, and
    each other language for people whose app speaks it (Telegram's two-letter codes)."""
    from assistant.core import i18n

    commands = ctx.commands.menu()
    default = ctx.locales.default()
    menus: list[Menu] = []
    for locale in (default, *(other for other in i18n.LOCALES if other != default)):
        with i18n.using(locale):
            menu = [(c.name, i18n.tr(c.summary)) for c in commands]
        menus.append((None if locale == default else locale.split("_")[0], menu))
    return menus


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
