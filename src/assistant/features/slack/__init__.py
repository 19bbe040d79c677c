"""Slack: a Slack app's bot as a chat channel (Socket Mode, or the Events API on the gateway).

slack-sdk is imported in ``setup`` only: a config without Slack imports nothing of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.feature import Feature, Reloaded, Route

if TYPE_CHECKING:
    import aiohttp

    from assistant.channels.slack.adapter import SlackChannel
    from assistant.config import Config
    from assistant.core.health import Health
    from assistant.core.redact import Redactor
    from assistant.kernel import Context

NAME = "slack"
CHANNEL = True


def enabled(config: Config) -> bool:
    return config.slack.enabled


def channel(
    config: Config, *, session: aiohttp.ClientSession, health: Health, redactor: Redactor
) -> SlackChannel:
    """An adapter that can send but not receive (the command line's notices)."""
    from assistant.channels.slack.adapter import SlackChannel

    return SlackChannel(config.slack, session=session, health=health, redactor=redactor)


async def setup(ctx: Context) -> Feature:
    from assistant.channels.slack.adapter import SlackChannel
    from assistant.store.dead_letters import DeadLetters
    from assistant.store.seen import SeenEvents

    section = ctx.config.slack
    adapter = await ctx.stack.enter_async_context(
        SlackChannel(
            section,
            session=ctx.session,
            health=ctx.health,
            redactor=ctx.redactor,
            clock=ctx.clock,
            seen=SeenEvents(ctx.db),
            dead_letters=DeadLetters(ctx.db),
        )
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
        from assistant.features.slack.checks import CHECKS

        return CHECKS
    raise AttributeError(name)
